/**
 * nop suite: the cost of the ring itself (IORING_OP_NOP, IORING_OP_TIMEOUT 0)
 * against a raw-io_uring C loop (the physical limit) and Node's own timers.
 * See bench/README.md for what each case measures.
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Ring } from '../../src/index.js';
import { buildC } from '../lib/cbuild.js';
import { startSuite } from '../lib/suite.js';
import {
  Case, emit, interleave, progress, sampler, type BenchOptions, type Sampler,
} from '../lib/report.js';
import { countEnters } from '../lib/enters.js';
import { BATCH, batch32Callback } from './workloads.js';

// ---- uringkit subjects: run(n) performs n operations ------------------------

function batch32Await(ring: Ring) {
  return async (n: number): Promise<void> => {
    const ps: Promise<void>[] = new Array<Promise<void>>(BATCH);
    for (let b = Math.ceil(n / BATCH); b > 0; b--) {
      for (let i = 0; i < BATCH; i++) ps[i] = ring.nop();
      await Promise.all(ps);
    }
  };
}

function batch1Await(ring: Ring) {
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await ring.nop();
  };
}

function sleep0(ring: Ring) {
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await ring.sleep(0);
  };
}

// ---- Node peers ----------------------------------------------------------------

async function setImmediateLoop(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

async function setTimeout0Loop(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setTimeout(r, 0));
}

// ---- sampler plumbing -------------------------------------------------------------



/** The C reference as a sampler (one process per repeat), or the reason it is unavailable. */
function cReference(mode: 'batch32' | 'batch1', o: BenchOptions): { sampler: Sampler; flags: () => string } | string {
  const b = buildC('bench/nop/c-reference.c', 'nop-c-reference');
  if (!b.ok) return b.reason;
  if (b.rebuilt) progress(`built ${b.path}`);
  let flags = '';
  const run = (): number => {
    const r = spawnSync(b.path, [mode, String(o.repeatMs), '30'], { encoding: 'utf8' });
    const m = /ns_per_op=([\d.]+)/.exec(r.stdout ?? '');
    if (r.status !== 0 || !m) {
      throw new Error(`c-reference ${mode} failed (status ${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
    }
    flags = /setup_flags=(\S+)/.exec(r.stdout)?.[1] ?? '';
    return Number(m[1]);
  };
  try {
    run(); // probe once: a kernel without io_uring is a missing peer, not a crash
  } catch (e) {
    return (e as Error).message;
  }
  return { sampler: run, flags: () => flags };
}

/** nop-batch32-callback in a child process, with or without the observability hooks. */
function hooksChild(noHooks: boolean, o: BenchOptions): Sampler {
  const script = new URL('./hooks-child.js', import.meta.url).pathname;
  return async () => {
    const env = { ...process.env, UK_NO_HOOKS: noHooks ? '1' : '0' };
    const r = spawnSync(process.execPath, [script, String(o.repeatMs)], { encoding: 'utf8', env });
    const m = /ns_per_op=([\d.]+)/.exec(r.stdout ?? '');
    if (r.status !== 0 || !m) throw new Error(`hooks child failed (${r.status}): ${r.stderr}`);
    return Number(m[1]);
  };
}

// ---- the suite -------------------------------------------------------------------

export async function main(argv: string[]): Promise<void> {
  const { o, env, cases, notes } = startSuite('nop', argv);

  const ring = Ring.current();
  notes.push(`uringkit ring flags: ${ring.info.flags.join('|') || '(none)'}`);

  // -- batch of 32 ----------------------------------------------------------
  {
    const cref = cReference('batch32', o);
    const cb = countEnters(ring, await sampler('nop-batch32-callback', batch32Callback(ring), o, { multiple: BATCH }));
    const aw = countEnters(ring, await sampler('nop-batch32-await', batch32Await(ring), o, { multiple: BATCH }));
    const subjects: Record<string, Sampler> = { cb: cb.sampler, aw: aw.sampler };
    if (typeof cref !== 'string') subjects['cref'] = cref.sampler;
    const s = await interleave(subjects, o);

    const c1 = new Case('nop-batch32-callback', 'ns/op').uringkit(s['cb']!);
    const c2 = new Case('nop-batch32-await', 'ns/op').uringkit(s['aw']!);
    if (typeof cref === 'string') {
      c1.missingPeer('c-reference', cref);
      c2.missingPeer('c-reference', cref);
    } else {
      const note = `batch-32 mode: raw io_uring, 32 NOPs per io_uring_enter(32, 32, GETEVENTS), setup flags ${cref.flags()}`;
      c1.peer('c-reference', s['cref']!, note);
      c2.peer('c-reference', s['cref']!, note);
    }
    c1.target('c-reference', 1 / 2);
    c2.peer('callback', s['cb']!, 'uringkit callback form (nop-batch32-callback), same run').target('callback', 1 / 1.5);
    const r1 = c1.build();
    const r2 = c2.build();
    r1.info = `io_uring_enter per op: ${cb.perOp().toFixed(4)}`;
    r2.info = `io_uring_enter per op: ${aw.perOp().toFixed(4)}`;
    cases.push(r1, r2);
  }

  // -- observability hooks: what they cost with nobody subscribed ------------------
  {
    progress('hooks-overhead: nop-batch32-callback in child processes, hooks on vs UK_NO_HOOKS=1');
    const s = await interleave({ hooks: hooksChild(false, o), none: hooksChild(true, o) }, o);
    const c = new Case('nop-batch32-callback-hooks', 'ns/op').uringkit(s['hooks']!)
      .peer('no-hooks', s['none']!, 'the same child with UK_NO_HOOKS=1: no diagnostics_channel checks at all')
      .target('no-hooks', 1 / 1.05);
    const r = c.build();
    r.info = 'nop-batch32-callback with diagnostics_channel hooks and no subscriber (each in its own process)';
    cases.push(r);
  }

  // -- one at a time -----------------------------------------------------------
  {
    const cref = cReference('batch1', o);
    const imm = new Ring({ flush: 'immediate' });
    const mt = countEnters(ring, await sampler('nop-batch1-await', batch1Await(ring), o));
    const im = countEnters(imm, await sampler('nop-batch1-await-immediate-flush', batch1Await(imm), o));
    const subjects: Record<string, Sampler> = { mt: mt.sampler, im: im.sampler };
    if (typeof cref !== 'string') subjects['cref'] = cref.sampler;
    const s = await interleave(subjects, o);
    await imm.close();

    const c3 = new Case('nop-batch1-await', 'ns/op').uringkit(s['mt']!);
    if (typeof cref === 'string') c3.missingPeer('c-reference', cref);
    else {
      c3.peer('c-reference', s['cref']!,
        `batch-1 mode: raw io_uring, one NOP per io_uring_enter(1, 1, GETEVENTS), setup flags ${cref.flags()}`);
    }
    c3.target('c-reference', 1 / 2);
    const c4 = new Case('nop-batch1-await-immediate-flush', 'ns/op').uringkit(s['im']!)
      .peer('microtask-flush', s['mt']!, "default flush policy ('microtask'), same ops interleaved in this run");
    const r3 = c3.build();
    const r4 = c4.build();
    r3.info = `io_uring_enter per op: ${mt.perOp().toFixed(4)}`;
    r4.info = `io_uring_enter per op: ${im.perOp().toFixed(4)}`;
    cases.push(r3, r4);
  }

  // -- timer wake-up -------------------------------------------------------------
  {
    const us = 1000;
    const s = await interleave({
      sl: await sampler('sleep0-wakeup', sleep0(ring), o, { scale: us }),
      si: await sampler('set-immediate', setImmediateLoop, o, { scale: us }),
      st: await sampler('set-timeout-0', setTimeout0Loop, o, { scale: us }),
    }, o);
    cases.push(new Case('sleep0-wakeup', 'µs/wake').uringkit(s['sl']!)
      .peer('set-immediate', s['si']!, 'await new Promise(r => setImmediate(r))')
      .peer('set-timeout-0', s['st']!, 'await new Promise(r => setTimeout(r, 0)); Node clamps 0 to 1 ms')
      .build());
  }

  await ring.close();
  emit({ suite: 'nop', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
