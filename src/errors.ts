/**
 * Typed errors shared by every layer.
 *
 * Every error that reaches a user is a {@link CriuGdbError}; its `message` is the single line the CLI and the
 * gdb plugin print. Damaged input is an {@link ImageError}, which names the image file and the byte offset.
 */

/** Base class for every error criu-gdb raises on purpose. */
export class CriuGdbError extends Error {
  override readonly name: string = 'CriuGdbError';
}

/** What is wrong with an image. */
export type ImageErrorCode =
  | 'missing' // a required image does not exist
  | 'unreadable' // the OS refused to read it (permissions, not a regular file, symlink)
  | 'bad-magic' // the header does not carry the expected magic
  | 'truncated' // the file ends inside a header, a length prefix or an entry
  | 'too-large' // a length prefix or count exceeds what the file or a sane bound allows
  | 'bad-entry' // the protobuf payload does not decode against the schema
  | 'bad-value'; // the entry decodes but a value is impossible (bad address, unknown reference, ...)

/** A damaged, missing or unreadable image. `message` reads `<image>: <problem>`. */
export class ImageError extends CriuGdbError {
  override readonly name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    /** Image file name relative to the checkpoint directory, e.g. `core-42.img`. */
    readonly image: string,
    /** Byte offset in the image where the problem was found. */
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${image}: ${problem}${offset > 0 ? ` (at offset ${offset})` : ''}`);
  }
}

/** The checkpoint as a whole is not usable (not a directory, no processes, unsupported architecture...). */
export class CheckpointError extends CriuGdbError {
  override readonly name = 'CheckpointError';
}

/** A request that the checkpoint cannot answer (unknown pid, address outside every mapping...). */
export class LookupError extends CriuGdbError {
  override readonly name: string = 'LookupError';
}

/** Bad command-line usage. */
export class UsageError extends CriuGdbError {
  override readonly name = 'UsageError';
}

/** Why a thread-local variable cannot be located. */
export type TlsErrorCode =
  | 'no-descriptors' // no loaded object exports libthread_db's layout descriptors (musl, static, old glibc)
  | 'bad-descriptor' // a descriptor has a form this reader does not know
  | 'no-tls' // the module has no thread-local storage
  | 'no-thread-pointer' // the thread's registers give no thread pointer
  | 'not-allocated' // the thread never allocated its block of that module
  | 'unreadable'; // the dynamic linker's or the thread's data is not in the checkpoint or is damaged

/** A thread-local variable that cannot be located; `message` is one line. */
export class TlsError extends LookupError {
  override readonly name = 'TlsError';
  constructor(
    readonly code: TlsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Long work stopped because its caller cancelled it (the gdb user pressed Ctrl-C, a request timed out). */
export class CancelledError extends CriuGdbError {
  override readonly name = 'CancelledError';
}
