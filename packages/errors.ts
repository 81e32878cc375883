/**
 * Why a package could not be fetched, unpacked, built or pushed. The agent copies `reason` and the
 * message into the pod's status, so reasons are stable UpperCamelCase words and messages name the
 * package and what to do about it.
 */
export type PackageErrorReason =
  | 'InvalidReference'
  | 'PackageNotFound'
  | 'DigestMismatch'
  | 'RegistryUnavailable'
  | 'RegistryError'
  | 'InsecureRegistry'
  | 'Unauthorized'
  | 'PackageRejected'
  | 'PackageTooLarge'
  | 'UnpackFailed'
  | 'CacheFailed'
  | 'Aborted';

export class PackageError extends Error {
  override name = 'PackageError';

  constructor(
    readonly reason: PackageErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPackageError(error: unknown, reason?: PackageErrorReason): error is PackageError {
  return error instanceof PackageError && (reason === undefined || error.reason === reason);
}
