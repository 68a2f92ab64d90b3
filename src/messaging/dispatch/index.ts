export { Dispatcher, type DispatcherOptions, defaultDispatcherOptions } from './dispatcher.ts';
export { retryDelay } from './outcomes.ts';
