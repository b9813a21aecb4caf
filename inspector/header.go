package inspector

// headerSize is each survey worker's scratch buffer; the header itself is
// read by internal/diskimage, shared with the assembler.
const headerSize = 512
