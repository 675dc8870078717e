/**
 * `snax data prepare`: tokenizes text into llm.c train and validation shards.
 * Parsing and printing only; the work is prepareData in src/data/prepare.ts.
 */
import { Flags } from '@oclif/core';
import { SnaxCommand } from '../../cli/base.js';
import { DEFAULT_PREPARE_SEED, DEFAULT_SHARD_TOKENS, prepareData, type PrepareResult } from '../../data/prepare.js';
import type { TokenizerName } from '../../recipe/types.js';

export default class DataPrepare extends SnaxCommand {
  static override summary = 'Tokenize text files or the Brown corpus into train and validation shards.';

  static override description = [
    'Reads every input, splits each text file into documents at blank lines, and assigns whole documents',
    'to the train or validation split with a seeded shuffle. Writes llm.c token shards (train_000000.bin,',
    'val_000000.bin, ...) and dataset.json to the output folder, which may be local or s3://bucket/prefix.',
    'Documents are separated by the end-of-text token (gpt2) or a newline (byte).',
  ].join(' ');

  static override examples = [
    {
      description: 'Prepare the Brown corpus with the byte tokenizer:',
      command: '<%= config.bin %> <%= command.id %> --input brown --tokenizer byte --out data/brown-byte',
    },
    {
      description: 'Prepare your own text files with GPT-2 tokens, 5% of documents for validation:',
      command: '<%= config.bin %> <%= command.id %> --input "texts/**/*.txt" --tokenizer gpt2 --val-fraction 0.05 --out s3://my-bucket/data/texts',
    },
  ];

  static override flags = {
    input: Flags.string({
      char: 'i',
      summary: 'Text file, quoted glob pattern, or the word "brown" for the Brown corpus. Repeat for more inputs.',
      multiple: true,
      required: true,
    }),
    out: Flags.string({
      char: 'o',
      summary: 'Output folder for the shards, local or s3://bucket/prefix.',
      required: true,
    }),
    overwrite: Flags.boolean({
      summary: 'Replace shards that already exist in the output folder.',
      default: false,
    }),
    seed: Flags.integer({
      summary: 'Seed of the train/validation split of documents.',
      default: DEFAULT_PREPARE_SEED,
      min: 0,
    }),
    'shard-tokens': Flags.integer({
      summary: 'Maximum number of tokens per shard file.',
      default: DEFAULT_SHARD_TOKENS,
      min: 1,
      max: 2 ** 31 - 1,
    }),
    tokenizer: Flags.string({
      char: 't',
      summary: 'Tokenizer: byte (UTF-8 bytes, vocabulary 256) or gpt2 (GPT-2 BPE, vocabulary 50257).',
      options: ['byte', 'gpt2'],
      default: 'byte',
    }),
    'val-fraction': Flags.string({
      summary: 'Fraction of documents, in [0, 1), that go to the validation split; at least one document always does.',
      default: '0.1',
    }),
  };

  async run(): Promise<PrepareResult> {
    const { flags } = await this.parse(DataPrepare);
    const valFraction = Number(flags['val-fraction']);
    if (!Number.isFinite(valFraction) || valFraction < 0 || valFraction >= 1) {
      this.error(`--val-fraction must be a number in [0, 1), got "${flags['val-fraction']}"`, { exit: 2 });
    }

    const result = await prepareData({
      inputs: flags.input,
      tokenizer: flags.tokenizer as TokenizerName,
      outDir: flags.out,
      valFraction,
      seed: flags.seed,
      shardTokens: flags['shard-tokens'],
      overwrite: flags.overwrite,
    });

    this.log(`documents: ${result.trainDocuments} train, ${result.valDocuments} val`);
    this.log(`tokens:    ${result.trainTokens} train, ${result.valTokens} val (tokenizer ${flags.tokenizer})`);
    this.log(`files:     ${result.files.length} in ${flags.out}`);
    for (const file of result.files) this.log(`  ${file}`);
    return result;
  }
}
