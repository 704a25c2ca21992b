/** The only source of "now" in the core, so tests can move time. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
