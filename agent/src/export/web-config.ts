import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureVersion } from 'node:tls';

import { parse, YAMLParseError } from 'yaml';

/**
 * The `--web.config.file` of Prometheus exporters (exporter-toolkit,
 * https://github.com/prometheus/exporter-toolkit/blob/master/docs/
 * web-configuration.md): TLS for the listener and bcrypt basic auth.
 * Parsing is a pure function of the file text; reading the key material
 * named in it is `loadWebConfig`'s job. Anything wrong fails at start.
 */

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS: Readonly<Record<string, SecureVersion>> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

export interface TlsServerConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** exporter-toolkit's default is TLS12. */
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  readonly clientAuthType: ClientAuthType;
  readonly clientCaFile: string | undefined;
}

export interface WebConfig {
  /** Undefined: plain HTTP. */
  readonly tls: TlsServerConfig | undefined;
  /** User name to bcrypt hash; empty: no basic auth. */
  readonly users: ReadonlyMap<string, string>;
}

/** No TLS, no auth: what the agent serves without a web config file. */
export const OPEN_WEB_CONFIG: WebConfig = { tls: undefined, users: new Map() };

/** A web config the agent cannot run with, naming file, field and why. */
export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';

  constructor(
    readonly file: string,
    /** Dotted path in the file, e.g. `tls_server_config.min_version`. */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}: ${field === '' ? '' : `${field}: `}${reason}`);
  }
}

/** `$2a$10$` + 53 characters of bcrypt's base64 (salt and digest). */
const BCRYPT_HASH = /^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$/;

const TOP_FIELDS = ['tls_server_config', 'basic_auth_users'];
const TLS_FIELDS = [
  'cert_file',
  'key_file',
  'min_version',
  'max_version',
  'client_auth_type',
  'client_ca_file',
];

/** Parses and validates the file's text; `file` only names it in errors. */
export function parseWebConfig(file: string, text: string): WebConfig {
  let root: unknown;
  try {
    root = parse(text) as unknown;
  } catch (error: unknown) {
    const why = error instanceof YAMLParseError ? error.message : 'not YAML';
    throw new WebConfigError(file, '', why.split('\n')[0] ?? why);
  }
  // An empty file is valid in exporter-toolkit: it changes nothing.
  if (root === null || root === undefined) return OPEN_WEB_CONFIG;
  const top = mapping(file, '', root, TOP_FIELDS);
  return {
    tls:
      top.tls_server_config === undefined || top.tls_server_config === null
        ? undefined
        : parseTls(file, top.tls_server_config),
    users: parseUsers(file, top.basic_auth_users),
  };
}

function parseTls(file: string, raw: unknown): TlsServerConfig {
  const field = 'tls_server_config';
  const tls = mapping(file, field, raw, TLS_FIELDS);
  const certFile = text(file, `${field}.cert_file`, tls.cert_file);
  const keyFile = text(file, `${field}.key_file`, tls.key_file);
  if (certFile === undefined || keyFile === undefined) {
    const missing = certFile === undefined ? 'cert_file' : 'key_file';
    throw new WebConfigError(file, `${field}.${missing}`, 'is required');
  }
  const minVersion = tlsVersion(file, `${field}.min_version`, tls.min_version);
  const maxVersion = tlsVersion(file, `${field}.max_version`, tls.max_version);
  if (tlsRank(minVersion ?? 'TLSv1.2') > tlsRank(maxVersion ?? 'TLSv1.3')) {
    throw new WebConfigError(
      file,
      `${field}.max_version`,
      'is below min_version',
    );
  }
  const clientCaFile = text(
    file,
    `${field}.client_ca_file`,
    tls.client_ca_file,
  );
  const clientAuthType = clientAuth(file, field, tls.client_auth_type);
  const verifies = clientAuthType.includes('Verify');
  if (verifies && clientCaFile === undefined) {
    throw new WebConfigError(
      file,
      `${field}.client_ca_file`,
      `is required by client_auth_type ${clientAuthType}`,
    );
  }
  if (clientAuthType === 'NoClientCert' && clientCaFile !== undefined) {
    // exporter-toolkit refuses this too: a CA that nothing checks against.
    throw new WebConfigError(
      file,
      `${field}.client_auth_type`,
      'must be set when client_ca_file is',
    );
  }
  return {
    certFile,
    keyFile,
    minVersion: minVersion ?? 'TLSv1.2',
    maxVersion: maxVersion ?? 'TLSv1.3',
    clientAuthType,
    clientCaFile,
  };
}

function parseUsers(file: string, raw: unknown): Map<string, string> {
  const users = new Map<string, string>();
  if (raw === undefined || raw === null) return users;
  for (const [user, hash] of Object.entries(
    mapping(file, 'basic_auth_users', raw, undefined),
  )) {
    const field = `basic_auth_users.${user}`;
    if (user === '' || user.includes(':')) {
      // Basic auth splits user and password at the first colon.
      throw new WebConfigError(file, field, 'user names cannot hold ":"');
    }
    if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) {
      throw new WebConfigError(file, field, 'is not a bcrypt hash');
    }
    users.set(user, hash);
  }
  return users;
}

/** A YAML mapping; `known` lists the fields allowed (all when undefined). */
function mapping(
  file: string,
  field: string,
  raw: unknown,
  known: readonly string[] | undefined,
): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new WebConfigError(file, field, 'must be a mapping');
  }
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (known !== undefined && !known.includes(key)) {
      const path = field === '' ? key : `${field}.${key}`;
      throw new WebConfigError(file, path, 'unknown or unsupported field');
    }
  }
  return record;
}

function text(file: string, field: string, raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || raw === '') {
    throw new WebConfigError(file, field, 'must be a non-empty string');
  }
  return raw;
}

function tlsVersion(
  file: string,
  field: string,
  raw: unknown,
): SecureVersion | undefined {
  if (raw === undefined || raw === null) return undefined;
  const version = typeof raw === 'string' ? TLS_VERSIONS[raw] : undefined;
  if (version === undefined) {
    const known = Object.keys(TLS_VERSIONS).join(', ');
    throw new WebConfigError(file, field, `must be one of ${known}`);
  }
  return version;
}

function tlsRank(version: SecureVersion): number {
  return Object.values(TLS_VERSIONS).indexOf(version);
}

function clientAuth(
  file: string,
  tlsField: string,
  raw: unknown,
): ClientAuthType {
  if (raw === undefined || raw === null || raw === '') return 'NoClientCert';
  const found = CLIENT_AUTH_TYPES.find((t) => t === raw);
  if (found === undefined) {
    throw new WebConfigError(
      file,
      `${tlsField}.client_auth_type`,
      `must be one of ${CLIENT_AUTH_TYPES.join(', ')}`,
    );
  }
  return found;
}

/** What `node:https` needs to listen with a TLS server config. */
export interface TlsServerOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  readonly clientAuthType: ClientAuthType;
}

/**
 * Reads and parses the file, then reads the key material it names
 * (relative paths resolve from the working directory) and checks that
 * certificate and key belong together. Throws WebConfigError.
 */
export function loadWebConfig(file: string): {
  readonly config: WebConfig;
  readonly tls: TlsServerOptions | undefined;
} {
  const config = parseWebConfig(file, readKeyFile(file, '', file).toString());
  const tls = config.tls;
  if (tls === undefined) return { config, tls: undefined };
  const field = 'tls_server_config';
  const options: TlsServerOptions = {
    cert: readKeyFile(file, `${field}.cert_file`, tls.certFile),
    key: readKeyFile(file, `${field}.key_file`, tls.keyFile),
    ca:
      tls.clientCaFile === undefined
        ? undefined
        : readKeyFile(file, `${field}.client_ca_file`, tls.clientCaFile),
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    clientAuthType: tls.clientAuthType,
  };
  try {
    createSecureContext({
      cert: options.cert,
      key: options.key,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  } catch (error: unknown) {
    const why = error instanceof Error ? error.message : String(error);
    throw new WebConfigError(file, field, `unusable key material: ${why}`);
  }
  return { config, tls: options };
}

function readKeyFile(file: string, field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new WebConfigError(file, field, `cannot read ${path}: ${code}`);
  }
}
