export * from './auth-context';
