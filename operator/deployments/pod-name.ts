import { randomInt } from 'node:crypto';

const SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SUFFIX_LENGTH = 5;

/**
 * A name for a new pod of the deployment: `<deployment>-<template hash>-<5 random characters>`. The
 * CRD keeps deployment names within 46 characters, so this stays a DNS label of at most 63.
 */
export function podName(deploymentName: string, templateHash: string): string {
  let suffix = '';
  for (let i = 0; i < SUFFIX_LENGTH; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return `${deploymentName}-${templateHash}-${suffix}`;
}
