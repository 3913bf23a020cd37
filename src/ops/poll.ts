/** Poll event bits for `ring.poll()` and `ring.pollMultishot()` (<poll.h>). */
export const POLL = Object.freeze({
  IN: 0x001,
  PRI: 0x002,
  OUT: 0x004,
  ERR: 0x008,
  HUP: 0x010,
  NVAL: 0x020,
  RDNORM: 0x040,
  RDBAND: 0x080,
  WRNORM: 0x100,
  WRBAND: 0x200,
  RDHUP: 0x2000,
});
