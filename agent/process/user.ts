import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface UserIdentity {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export class UnknownUserError extends Error {}

function parsePasswdLine(line: string): UserIdentity | undefined {
  const [name, , uid, gid, , home] = line.split(':');
  if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

function getent(user: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    execFile('getent', ['passwd', user], { timeout: 10_000 }, (error, stdout) => {
      if (!error) resolve(stdout);
      // Exit code 2 is getent's "not found".
      else if (error.code === 2) resolve(undefined);
      else reject(error);
    });
  });
}

/** /etc/passwd only, for hosts without getent (no NSS sources such as LDAP then). */
async function fromPasswdFile(user: string): Promise<string | undefined> {
  const lines = (await readFile('/etc/passwd', 'utf8')).split('\n');
  const numeric = /^\d+$/.test(user);
  return lines.find((line) => {
    const fields = line.split(':');
    return numeric ? fields[2] === user : fields[0] === user;
  });
}

/** Resolves a user name or uid through NSS (`getent passwd`), so LDAP/SSSD users work too. */
export async function resolveUser(user: string): Promise<UserIdentity> {
  let entry: string | undefined;
  try {
    entry = await getent(user);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    entry = await fromPasswdFile(user);
  }
  const identity = entry ? parsePasswdLine(entry.trim().split('\n')[0] ?? '') : undefined;
  if (!identity) throw new UnknownUserError(`user "${user}" does not exist on this node`);
  const self = process.getuid?.();
  if (self !== undefined && self !== 0 && self !== identity.uid) {
    throw new UnknownUserError(
      `cannot run as user "${user}" (uid ${identity.uid}): the agent runs as uid ${self}, not root`,
    );
  }
  return identity;
}
