// The demo and the tests start the same local OCI registry.
export * from '../../cli/local-registry.js';
