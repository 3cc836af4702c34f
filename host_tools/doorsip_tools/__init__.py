"""doorsip host tools: the `doorsip` command run on a PC or a Raspberry Pi."""
