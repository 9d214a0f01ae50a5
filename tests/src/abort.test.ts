import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onAbort } from '../../src/abort.js';

describe('onAbort', () => {
  it('calls every subscriber once, in the order they subscribed, with one EventTarget listener on the signal', () => {
    const ac = new AbortController();
    const calls: number[] = [];
    for (let i = 0; i < 1000; i++) onAbort(ac.signal, () => calls.push(i));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    ac.abort();
    ac.abort();
    expect(calls).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('does not call a subscriber that unsubscribed; each subscription has its own disposer', () => {
    const ac = new AbortController();
    const calls: string[] = [];
    const f = () => calls.push('f');
    const offA = onAbort(ac.signal, f);
    onAbort(ac.signal, f);
    const offB = onAbort(ac.signal, () => calls.push('b'));
    offA();
    offB();
    offB();
    ac.abort();
    expect(calls).toEqual(['f']);
  });

  it('never calls a subscriber of a signal that was already aborted (as addEventListener)', () => {
    const ac = new AbortController();
    ac.abort();
    let called = false;
    onAbort(ac.signal, () => (called = true));
    expect(called).toBe(false);
  });

  it('a throwing subscriber does not stop the others; its error is reported as uncaught', async () => {
    const ac = new AbortController();
    const calls: string[] = [];
    onAbort(ac.signal, () => calls.push('first'));
    onAbort(ac.signal, () => {
      throw new Error('boom');
    });
    onAbort(ac.signal, () => calls.push('third'));
    const uncaught = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (e) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(e);
      });
    });
    ac.abort();
    expect(calls).toEqual(['first', 'third']);
    expect(((await uncaught) as Error).message).toBe('boom');
  });

  it('keeps subscriptions of different signals apart', () => {
    const a = new AbortController();
    const b = new AbortController();
    const calls: string[] = [];
    onAbort(a.signal, () => calls.push('a'));
    onAbort(b.signal, () => calls.push('b'));
    b.abort();
    expect(calls).toEqual(['b']);
    a.abort();
    expect(calls).toEqual(['b', 'a']);
  });
});
