/** Constants shared by configuration and the runtime (reading the environment is lib/config's). */

/** Default limit for request and message sizes: 32 MiB. */
export const defaultMaxMessageBytes = 32 * 1024 * 1024;
