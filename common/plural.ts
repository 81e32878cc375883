/** "1 pod", "3 pods": counts in event messages. */
export const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
