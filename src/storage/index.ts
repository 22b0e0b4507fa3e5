/** The object store: the port, its S3 implementation, configuration and errors. */
export * from './object-store.js';
export * from './errors.js';
export * from './config.js';
export * from './s3.js';
export * from './s3-errors.js';
