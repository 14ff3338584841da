export async function runTrainCommand(_argv: string[]): Promise<number> { return 1; }
