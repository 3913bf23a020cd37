// The part of mime-types (a CommonJS package without bundled types) the server uses.
declare module 'mime-types' {
  /** The full Content-Type for a file name or extension (charset added for text types), or false. */
  export function contentType(filenameOrExt: string): string | false;
  /** The bare MIME type for a file name or extension, or false. */
  export function lookup(filenameOrExt: string): string | false;
}
