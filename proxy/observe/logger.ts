// pino JSON logs to stdout; each component takes a child logger (`component: ...`).
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { name: 'nodeport-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
