/** Output streams for a command under test, whose writes are kept as text. */
export function captureOutput(isTTY = false) {
  let stdout = '';
  let stderr = '';
  return {
    output: {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY },
    },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
