/**
 * The sender of the net suite's send-zc cases: one uringkit Socket writing
 * `size`-byte messages to a sink (bench/net/sink.c) for `ms` milliseconds
 * after `warmupMs`, with either plain IORING_OP_SEND (`send`) or
 * IORING_OP_SEND_ZC (`zc`), chosen per write with `zeroCopy: false | true`.
 * Two writes are kept queued (one in the kernel, one waiting), so the
 * socket never idles between sends.
 *
 *   node dist/bench/net/zc-sender.js HOST PORT SIZE send|zc MS [WARMUP_MS]
 *
 * Prints `bytes_per_s=<float> bytes=<n> elapsed_ms=<float>`.
 */
import { Socket, SocketAddress } from '../../src/index.js';

const [host = '127.0.0.1', portArg = '0', sizeArg = '65536', mode = 'send', msArg = '500', warmArg = '100'] =
  process.argv.slice(2);
const size = Number(sizeArg);
const ms = Number(msArg);
const warmupMs = Number(warmArg);
if (!Number.isInteger(size) || size <= 0 || (mode !== 'send' && mode !== 'zc') || !(ms > 0)) {
  console.error('usage: zc-sender HOST PORT SIZE send|zc MS [WARMUP_MS]');
  process.exit(2);
}
const zeroCopy = mode === 'zc';
const data = Buffer.alloc(size, 0x61);
const s = await Socket.connect(SocketAddress.ipv4(host, Number(portArg)), { noDelay: true });

const t0 = performance.now();
const measureFrom = t0 + warmupMs;
const end = measureFrom + ms;
let measuring = false;
let start = 0;
let bytes = 0;
let failed: Error | undefined;
let finish: () => void;
const finished = new Promise<void>((r) => (finish = r));

const onWritten = (err: Error | null, n?: number): void => {
  if (err) {
    failed ??= err;
    finish();
    return;
  }
  const now = performance.now();
  if (!measuring && now >= measureFrom) {
    measuring = true;
    start = now;
  } else if (measuring) {
    bytes += n!;
    if (now >= end) {
      finish();
      return;
    }
  }
  s.write(data, { zeroCopy }, onWritten);
};
s.write(data, { zeroCopy }, onWritten);
s.write(data, { zeroCopy }, onWritten);
await finished;
const elapsed = performance.now() - start;
if (failed) {
  console.error(`zc-sender: ${failed.message}`);
  process.exit(1);
}
console.log(`bytes_per_s=${((bytes * 1000) / elapsed).toFixed(1)} bytes=${bytes} elapsed_ms=${elapsed.toFixed(1)}`);
await s.drain();
await s.close();
