// Package diskimage reads the first bytes of a disk image by content, never
// by name, and says what qemu would make of it: its format, its virtual
// size, and whether it names other files (a qcow2 backing file or external
// data file, a vmdk's extents or parent). Both the inspector (surveyed
// volumes) and the assembler (downloaded content, before any qemu-img call)
// use it, so a file that would make qemu open a host path is refused or
// reported broken in one place. Every length read from the file is bounded.
package diskimage
