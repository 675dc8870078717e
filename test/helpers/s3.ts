/**
 * A real S3 server for tests: s3rver 3.7 on 127.0.0.1 with an OS-chosen port
 * and a temporary folder, with one bucket made at start. startS3 points the
 * SNaX S3 backend at it through environment variables, and stop() restores
 * them and deletes the folder.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** The environment a child process needs to reach this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const VARIABLES = ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_EC2_METADATA_DISABLED'];

/** Starts s3rver with one bucket and sets the S3 environment variables for this process. */
export async function startS3(bucket = 'snax-test'): Promise<TestS3> {
  const S3rver = require('s3rver') as S3rverClass;
  const directory = mkdtempSync(join(tmpdir(), 'snax-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    // Keeps the SDK's credential chain away from the instance metadata address.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const saved = new Map(VARIABLES.map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);

  return {
    endpoint,
    bucket,
    env,
    async stop() {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
