import http from 'node:http';

/** One keep-alive POST of a JSON body; resolves with the status and body text. `onSent` runs as the request leaves. */
export function postJson(
  agent: http.Agent,
  target: URL,
  path: string,
  auth: string,
  body: Buffer,
  onSent?: () => void,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: auth },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    onSent?.();
    req.end(body);
  });
}
