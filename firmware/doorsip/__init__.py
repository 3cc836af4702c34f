# doorsip firmware package: kept empty so importing a subpackage costs no heap.
__version__ = "0.1.0"
