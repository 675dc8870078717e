/**
 * S3 behind the Storage interface, through @aws-sdk/client-s3. The SDK is
 * imported on first use because importing it costs about 185 ms, which every
 * command would otherwise pay at start-up.
 *
 * Configuration comes from the environment: AWS_ENDPOINT_URL or
 * SNAX_S3_ENDPOINT (then path-style addressing, as S3-compatible servers
 * expect), AWS_REGION (default us-east-1), and the SDK's usual credential
 * chain. Checksums are computed only where S3 requires them, because some
 * S3-compatible servers store the SDK's default aws-chunked framing as the
 * object body.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SnaxError } from '../errors.js';
import type { Storage } from './storage.js';

export const S3_SCHEME = 's3://';

export interface S3Location {
  bucket: string;
  key: string;
}

/** Returns true for `s3://` paths. */
export function isS3Path(path: string): boolean {
  return path.startsWith(S3_SCHEME);
}

/** Splits `s3://bucket/a/b` into bucket `bucket` and key `a/b` (no leading or trailing slash). */
export function parseS3Path(path: string): S3Location {
  const rest = path.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (!isS3Path(path) || bucket.length === 0) {
    throw new SnaxError('INVALID_ARGUMENT', `invalid S3 path "${path}", expected s3://bucket/prefix`);
  }
  return { bucket, key };
}

type Sdk = typeof import('@aws-sdk/client-s3');

interface Connection {
  sdk: Sdk;
  client: S3Client;
}

/** Returns the endpoint URL from AWS_ENDPOINT_URL or SNAX_S3_ENDPOINT, if either is set. */
function endpointFromEnvironment(): string | undefined {
  const endpoint = process.env.AWS_ENDPOINT_URL || process.env.SNAX_S3_ENDPOINT;
  return endpoint && endpoint.length > 0 ? endpoint : undefined;
}

function folderKey(key: string): string {
  return key === '' ? '' : `${key}/`;
}

/** Returns the HTTP status or error name of an SDK error. */
function errorStatus(error: unknown): { status?: number; name: string } {
  const sdkError = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return { status: sdkError.$metadata?.httpStatusCode, name: sdkError.name ?? 'Error' };
}

function isNotFound(error: unknown): boolean {
  const { status, name } = errorStatus(error);
  return status === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

function toSnaxError(error: unknown, action: string, path: string): SnaxError {
  const { status, name } = errorStatus(error);
  const reason = `${name}${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`;
  if (name === 'NoSuchBucket') {
    return new SnaxError('FILE_NOT_FOUND', `cannot ${action} ${path}: the bucket does not exist`, {
      cause: error,
      fix: 'create the bucket first, or check the bucket name',
    });
  }
  if (isNotFound(error)) {
    return new SnaxError('FILE_NOT_FOUND', `cannot ${action} ${path}: object not found`, { cause: error });
  }
  return new SnaxError('STORAGE_ERROR', `cannot ${action} ${path}: ${reason}`, {
    cause: error,
    fix: 'check the credentials, AWS_REGION, and AWS_ENDPOINT_URL or SNAX_S3_ENDPOINT',
  });
}

export class S3Storage implements Storage {
  private connection: Promise<Connection> | undefined;
  private connectionEndpoint: string | undefined;

  /** Returns the SDK and a client, creating them on first use and again when the endpoint variable changes. */
  private connect(): Promise<Connection> {
    const endpoint = endpointFromEnvironment();
    if (this.connection && this.connectionEndpoint === endpoint) return this.connection;
    this.connectionEndpoint = endpoint;
    // SNaX pins an SDK release that supports Node.js 20, so the SDK's notice
    // that later releases will need Node.js 22 does not apply. A user who sets
    // the variable keeps their own choice.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.connection = import('@aws-sdk/client-s3').then((sdk) => {
      const client = new sdk.S3Client({
        region: process.env.AWS_REGION || 'us-east-1',
        endpoint,
        forcePathStyle: endpoint !== undefined,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { sdk, client };
    });
    return this.connection;
  }

  async readFile(path: string): Promise<Buffer> {
    const { bucket, key } = parseS3Path(path);
    const { sdk, client } = await this.connect();
    try {
      const response = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) return Buffer.alloc(0);
      const bytes = await response.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw toSnaxError(error, 'read', path);
    }
  }

  // NOTE: a single PutObject takes at most 5 GB, so larger files (a big
  // model's optimizer state) fail until multipart upload is added.
  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const { bucket, key } = parseS3Path(path);
    const { sdk, client } = await this.connect();
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.byteLength }));
    } catch (error) {
      throw toSnaxError(error, 'write', path);
    }
  }

  async exists(path: string): Promise<boolean> {
    const { bucket, key } = parseS3Path(path);
    const { sdk, client } = await this.connect();
    if (key !== '') {
      try {
        await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if (!isNotFound(error)) throw toSnaxError(error, 'check', path);
      }
    }
    try {
      const response = await client.send(
        // NOTE: no MaxKeys: 1 here, because s3rver 3.7 on OpenSSL 3 returns HTTP 500
        // for any truncated listing. One page of keys is cheap on real S3 too.
        new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: folderKey(key), Delimiter: '/' }),
      );
      return (response.KeyCount ?? 0) > 0 || (response.Contents?.length ?? 0) > 0 || (response.CommonPrefixes?.length ?? 0) > 0;
    } catch (error) {
      if (errorStatus(error).name === 'NoSuchBucket') return false;
      throw toSnaxError(error, 'check', path);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { bucket, key } = parseS3Path(prefix);
    const { sdk, client } = await this.connect();
    const folder = folderKey(key);
    const names = new Set<string>();
    let token: string | undefined;
    try {
      do {
        const response = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: folder, Delimiter: '/', ContinuationToken: token }),
        );
        for (const entry of response.CommonPrefixes ?? []) {
          if (entry.Prefix) names.add(entry.Prefix.slice(folder.length).replace(/\/$/, ''));
        }
        for (const entry of response.Contents ?? []) {
          if (entry.Key && entry.Key.length > folder.length) names.add(entry.Key.slice(folder.length));
        }
        token = response.IsTruncated ? response.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (errorStatus(error).name === 'NoSuchBucket') return [];
      throw toSnaxError(error, 'list', prefix);
    }
    return [...names].sort();
  }

  async remove(path: string): Promise<void> {
    const { bucket, key } = parseS3Path(path);
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (!isNotFound(error)) throw toSnaxError(error, 'remove', path);
    }
  }

  async removeTree(path: string): Promise<void> {
    const { bucket, key } = parseS3Path(path);
    const { sdk, client } = await this.connect();
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const response = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: folderKey(key), ContinuationToken: token }),
        );
        for (const entry of response.Contents ?? []) if (entry.Key) keys.push(entry.Key);
        token = response.IsTruncated ? response.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (errorStatus(error).name === 'NoSuchBucket') return;
      throw toSnaxError(error, 'list', path);
    }
    // One DeleteObject per key: a batch DeleteObjects request needs a Content-MD5
    // header that not every S3-compatible server accepts.
    for (const objectKey of keys) {
      await this.remove(`${S3_SCHEME}${bucket}/${objectKey}`);
    }
  }

  async ensureWritable(folder: string): Promise<void> {
    const { bucket, key } = parseS3Path(folder);
    const probe = `${S3_SCHEME}${bucket}/${folderKey(key)}.snax-write-check-${process.pid}-${Date.now()}`;
    try {
      await this.writeFile(probe, '');
      await this.remove(probe);
    } catch (error) {
      const reason = error instanceof SnaxError ? error.message : String(error);
      throw new SnaxError('OUTPUT_NOT_WRITABLE', `output folder ${folder} is not writable: ${reason}`, {
        cause: error,
        fix: 'check that the bucket exists and that the credentials may write to it',
      });
    }
  }
}
