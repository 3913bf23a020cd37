/**
 * Credential changes. process.setuid & co. are wrapped (once per process) to
 * bump an epoch; a ring created under an older epoch refuses to submit: its
 * kernel worker threads may still run with the old credentials.
 */
const kCredEpoch = Symbol.for('uringkit.credentialEpoch');
type CredProcess = NodeJS.Process & { [kCredEpoch]?: { epoch: number } };
function credentialEpoch(): { epoch: number } {
  const p = process as CredProcess;
  let box = p[kCredEpoch];
  if (box === undefined) {
    const b = { epoch: 0 };
    box = b;
    p[kCredEpoch] = b;
    const target = process as unknown as Record<string, unknown>;
    for (const name of ['setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups']) {
      const orig = target[name];
      if (typeof orig !== 'function') continue;
      target[name] = function wrapped(this: unknown, ...args: unknown[]): unknown {
        const r = (orig as (...a: unknown[]) => unknown).apply(this, args);
        b.epoch++;
        return r;
      };
    }
  }
  return box;
}
/** This process's credential epoch (shared by every ring of every thread). */
export const credentials = credentialEpoch();
