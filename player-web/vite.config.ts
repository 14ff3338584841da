// `npx vite --config player-web/vite.config.ts` for development with hot reload against a running platform.
import { viteConfig } from './src/vite-config';
import { playerWebRoot } from './src/index';

export default viteConfig(playerWebRoot());
