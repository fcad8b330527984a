using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Instruction/response pairs as training rows for supervised fine-tuning, in the vocabulary of the model being tuned.
/// A row is <c>EOD instruction "." response</c> and its targets are the inputs shifted left by one with the closing
/// EOD last; only the targets that are response tokens or that EOD count, the prompt's are
/// <see cref="TokenBatch.IgnoreIndex"/> (the loss is on the response only), and the rest of the row is padding.
/// </summary>
/// <remarks>
/// The period after the instruction marks where the response starts (the built-in instructions end without one, and
/// every vocabulary built from the built-in corpus has it). Training rows are drawn like pre-training windows: row g of
/// step s is example DeterministicRandom(Mix(seed, s, g)), g numbering the step's global batch, so any replica can draw
/// any row and one process with M x R micro-batches reads exactly the rows of R replicas with M each.
/// </remarks>
public sealed class InstructionDataset : ITrainingBatches
{
    /// <summary>What separates the instruction from the response in a row.</summary>
    public const string Separator = ".";

    /// <summary>Built-in training examples: ~20 tokens of response each, about what a few hundred SFT steps read a few times.</summary>
    public const int DefaultTrainExamples = 10_000;

    /// <summary>Built-in held-out examples: every one's instruction text is absent from the training examples.</summary>
    public const int DefaultValidationExamples = 512;

    /// <summary>One built-in instruction text in this many is held out (never trained on), chosen by a hash of the text.</summary>
    public const int HeldOutOneIn = 8;

    /// <summary>A file's examples: one in this many (the 10th, 20th, ...) validates, when the file has at least that many.</summary>
    public const int FileValidationOneIn = 10;

    private readonly Encoded[] _train;
    private readonly Encoded[] _validation;

    private InstructionDataset(string name, ModelVocabulary vocabulary, int blockSize, Encoded[] train, Encoded[] validation)
    {
        Name = name;
        Vocabulary = vocabulary;
        BlockSize = blockSize;
        _train = train;
        _validation = validation;
    }

    /// <summary>"synthetic", or the instruction file's name.</summary>
    public string Name { get; }

    public ModelVocabulary Vocabulary { get; }

    public int BlockSize { get; }

    public IReadOnlyList<InstructionExample> TrainExamples => [.. _train.Select(e => e.Example)];

    public IReadOnlyList<InstructionExample> ValidationExamples => [.. _validation.Select(e => e.Example)];

    /// <summary>
    /// The built-in corpus's instructions (<see cref="SyntheticCorpus.Instruction"/>): training examples from indices 0, 1,
    /// ... and held-out ones from <see cref="SyntheticCorpus.ValidationOffset"/> on, split by instruction text (one text in
    /// <see cref="HeldOutOneIn"/>), so no held-out instruction was ever trained on.
    /// </summary>
    /// <exception cref="ArgumentException">An example does not fit the context.</exception>
    public static InstructionDataset Synthetic(
        SyntheticCorpus corpus,
        ModelVocabulary vocabulary,
        int blockSize,
        int trainExamples = DefaultTrainExamples,
        int validationExamples = DefaultValidationExamples)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainExamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(validationExamples, 1);
        RequireBlockSize(blockSize);
        Encoded[] Draw(long first, bool heldOut, int count)
        {
            var examples = new List<Encoded>(count);
            for (var index = first; examples.Count < count; index++)
            {
                var example = corpus.Instruction(index);
                if (IsHeldOut(example.Instruction) == heldOut)
                {
                    examples.Add(Encode(example, vocabulary, blockSize, () => $"Built-in instruction {index}"));
                }
            }

            return [.. examples];
        }

        return new InstructionDataset(
            TrainingCorpusName, vocabulary, blockSize, Draw(0, heldOut: false, trainExamples), Draw(SyntheticCorpus.ValidationOffset, heldOut: true, validationExamples));
    }

    /// <summary>A JSON Lines file's examples (see <see cref="InstructionFile"/>); every 10th validates when there are 10 or more, else all do.</summary>
    /// <exception cref="InvalidDataException">A bad line (the message names it), or an example too long for the context.</exception>
    public static InstructionDataset FromJsonLines(string name, string text, ModelVocabulary vocabulary, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        RequireBlockSize(blockSize);
        var lines = InstructionFile.Parse(name, text);
        var encoded = lines.Select(l => Encode(l.Example, vocabulary, blockSize, () => $"The instruction file '{name}', line {l.Line}")).ToArray();
        if (encoded.Length < FileValidationOneIn)
        {
            return new InstructionDataset(name, vocabulary, blockSize, encoded, encoded);
        }

        var held = encoded.Where((_, i) => i % FileValidationOneIn == FileValidationOneIn - 1).ToArray();
        var train = encoded.Where((_, i) => i % FileValidationOneIn != FileValidationOneIn - 1).ToArray();
        return new InstructionDataset(name, vocabulary, blockSize, train, held);
    }

    /// <summary>Whether a built-in instruction text belongs to the held-out share (FNV-1a of its characters).</summary>
    public static bool IsHeldOut(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        var hash = 14695981039346656037UL;
        foreach (var c in instruction)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash % HeldOutOneIn == 0;
    }

    /// <summary>What generation continues from: EOD, the instruction, the separator, as model IDs.</summary>
    public int[] Prompt(string instruction) => Prompt(instruction, Vocabulary);

    public TokenBatch TrainBatch(long seed, long step, int microBatch, int replica, int microBatchesPerReplica, int batchSize, int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchesPerReplica, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        if ((uint)replica >= (uint)replicas)
        {
            throw new ArgumentOutOfRangeException(nameof(replica), replica, $"Replicas run from 0 to {replicas - 1}.");
        }

        if ((uint)microBatch >= (uint)microBatchesPerReplica)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatch), microBatch, $"Micro-batches run from 0 to {microBatchesPerReplica - 1}.");
        }

        var firstRow = ((long)replica * microBatchesPerReplica + microBatch) * batchSize;
        var globalRows = (long)replicas * microBatchesPerReplica * batchSize;
        var stepTargets = 0L;
        for (var row = 0L; row < globalRows; row++)
        {
            stepTargets += TrainRow(seed, step, row).ScoredCount;
        }

        return Rows(Enumerable.Range(0, batchSize).Select(b => TrainRow(seed, step, firstRow + b)).ToList()) with { StepTargetCount = stepTargets };
    }

    public IEnumerable<TokenBatch> ValidationBatches(int batchSize, int? maxBatches = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (maxBatches is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBatches), maxBatches, "The batch limit cannot be negative.");
        }

        var limit = maxBatches ?? int.MaxValue;
        for (var (first, emitted) = (0, 0); first < _validation.Length && emitted < limit; first += batchSize, emitted++)
        {
            yield return Rows([.. _validation.Skip(first).Take(batchSize)]);
        }
    }

    private const string TrainingCorpusName = "synthetic";

    private Encoded TrainRow(long seed, long step, long row) =>
        _train[new DeterministicRandom(DeterministicRandom.Mix(seed, step, row)).NextInt(_train.Length)];

    private TokenBatch Rows(List<Encoded> rows)
    {
        var t = BlockSize;
        var inputs = new long[rows.Count * t];
        var targets = new long[rows.Count * t];
        Array.Fill(inputs, ModelVocabulary.EndOfDocument); // padding after the row: the causal mask keeps it from the row
        Array.Fill(targets, TokenBatch.IgnoreIndex);
        for (var b = 0; b < rows.Count; b++)
        {
            var (prompt, response) = (rows[b].Prompt, rows[b].Response);
            var length = prompt.Length + response.Length;
            for (var i = 0; i < length; i++)
            {
                inputs[(b * t) + i] = i < prompt.Length ? prompt[i] : response[i - prompt.Length];
            }

            // Position i predicts token i + 1: the last prompt position predicts the response's first token, the last
            // response position predicts the closing EOD.
            for (var i = prompt.Length - 1; i < length; i++)
            {
                targets[(b * t) + i] = i + 1 < length ? response[i + 1 - prompt.Length] : ModelVocabulary.EndOfDocument;
            }
        }

        return new TokenBatch(inputs, targets, rows.Count, t);
    }

    /// <summary>EOD, the instruction and the separator in <paramref name="vocabulary"/>: what a response continues from.</summary>
    public static int[] Prompt(string instruction, ModelVocabulary vocabulary) =>
        [ModelVocabulary.EndOfDocument, .. vocabulary.EncodeText(instruction), .. vocabulary.EncodeText(Separator)];

    private static Encoded Encode(InstructionExample example, ModelVocabulary vocabulary, int blockSize, Func<string> where)
    {
        var prompt = Prompt(example.Instruction, vocabulary);
        var response = vocabulary.EncodeText(example.Response);
        if (prompt.Length + response.Length > blockSize)
        {
            var instruction = vocabulary.EncodeText(example.Instruction).Length;
            var message = $"{where()}: the end-of-document token, the instruction ({instruction} tokens), the separator ({prompt.Length - 1 - instruction}) and the response " +
                $"({response.Length} tokens) make {prompt.Length + response.Length} input tokens, more than the context of {blockSize}; shorten it or use a larger context.";
            throw new InvalidDataException(message);
        }

        return new Encoded(example, prompt, response);
    }

    private static void RequireBlockSize(int blockSize)
    {
        if (blockSize < 3)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "An instruction row needs a context of at least 3 tokens.");
        }
    }

    /// <summary>An example as model IDs; it scores its response tokens and the closing EOD.</summary>
    private sealed record Encoded(InstructionExample Example, int[] Prompt, int[] Response)
    {
        public int ScoredCount => Response.Length + 1;
    }
}
