import os from 'node:os';
import type { UserIdentity } from './user.js';

/** The PATH a login shell on a Debian host gets; the agent's own environment is never passed on. */
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A minimal base (PATH, HOME, USER, LOGNAME) under the spec's variables, which win. */
export function processEnvironment(
  specEnv: Record<string, string>,
  identity: UserIdentity | undefined,
): Record<string, string> {
  let name = identity?.name;
  let home = identity?.home;
  if (!identity) {
    const self = os.userInfo();
    name = self.username;
    home = self.homedir;
  }
  return {
    PATH: BASE_PATH,
    HOME: home || '/',
    USER: name ?? '',
    LOGNAME: name ?? '',
    ...specEnv,
  };
}
