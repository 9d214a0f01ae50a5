// Prints N distinct free TCP ports on 127.0.0.1, space separated. All listeners are held open
// together so the kernel cannot hand out the same port twice; they are closed before exit.
import { createServer } from 'node:net';

const count = Number(process.argv[2] ?? '1');
const servers = await Promise.all(
  Array.from({ length: count }, () =>
    new Promise((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    }),
  ),
);
console.log(servers.map((s) => s.address().port).join(' '));
await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
