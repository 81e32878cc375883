import type { CgroupLimits } from './cgroups.js';

/** What the pod-sync layer asks the supervisor to run for one container. */
export interface ProcessSpec {
  /** Container name: names the log files. */
  name: string;
  /** Working directory (the container directory); relative commands resolve inside it. */
  directory: string;
  commands: {
    start: string;
    stop?: string;
    reload?: string;
    restart?: string;
    pre_start?: string;
    post_start?: string;
    pre_stop?: string;
  };
  /** `forking`: the start command daemonizes and exits 0; the daemon's pid is read from `pid_file`. */
  mode: 'foreground' | 'forking';
  /** Relative to `directory`, or absolute. Required in forking mode. */
  pid_file?: string;
  /** The complete environment the pod-sync layer wants (SEER_* and port variables included). */
  env: Record<string, string>;
  /** Run as this user (name or uid); needs the agent to run as root unless it is the agent's own user. */
  user?: string;
  /** Named ports, so that probes can name a port. */
  ports: Record<string, number>;
  stop_timeout_seconds: number;
  restart_policy: 'always' | 'on_failure' | 'never';
  /** The container's cgroup v2 directory: everything it starts runs there, and is killed with it. */
  cgroup_dir?: string;
  /** Limits on the whole tree (needs `cgroup_dir` and the controllers there). */
  limits?: CgroupLimits;
  /** Automatic restarts allowed within `windowSeconds`; the next failure gives up. None: no limit. */
  restart_limit?: { max: number; windowSeconds: number };
  liveness_probe?: Probe;
  readiness_probe?: Probe;
  /** Directory for `<name>.stdout.log` and `<name>.stderr.log`. */
  log_dir: string;
  /** Where the supervisor keeps what a later agent needs to re-adopt the process. */
  state_file: string;
}

export interface Probe {
  exec?: { command: string };
  http_get?: {
    path?: string;
    port: number | string;
    scheme?: 'http' | 'https';
    host?: string;
    http_headers?: { name: string; value: string }[];
  };
  tcp_socket?: { port: number | string; host?: string };
  /** Seconds; fractions are allowed. Defaults as in Kubernetes: 0, 10, 1, 1, 3. */
  initial_delay_seconds?: number;
  period_seconds?: number;
  timeout_seconds?: number;
  success_threshold?: number;
  failure_threshold?: number;
}
