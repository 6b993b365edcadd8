// Loaded with `node --require` into the Azurite child process (see startAzurite): it patches
// the emulator before Azurite's own modules run.
import { installPageRangeSearch } from './azuritePageRangeSearch';

installPageRangeSearch();
