/**
 * `tzstack bench`: the benchmark suite and the line-rate mode, implemented
 * in bench/ (this module only hands the command to the CLI's table).
 */
export { command } from '../../bench/cli.js';
