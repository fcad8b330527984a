using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// Rankings as a reward model's training rows. A completion's row is what the policy saw and wrote, EOD, the
/// instruction, the separator ".", the completion and a closing EOD (the fine-tuning rows' format), and its score is read
/// at that closing EOD. A ranking is K consecutive rows in task order, each marking its score position with its place in
/// the ranking (<see cref="Objectives.PairwiseRankingLoss"/>). A micro-batch of B rows holds B / K rankings; ranking slot j
/// of step s is ranking <c>DeterministicRandom(Mix(seed, s, j))</c>, so any replica draws any slot and a replay draws
/// the same.
/// </summary>
public sealed class RankingDataset : ITrainingBatches
{
    private readonly Encoded[] _train;
    private readonly Encoded[] _validation;

    private RankingDataset(string name, ModelVocabulary vocabulary, int blockSize, int completions, Encoded[] train, Encoded[] validation)
    {
        Name = name;
        Vocabulary = vocabulary;
        BlockSize = blockSize;
        Completions = completions;
        _train = train;
        _validation = validation;
    }

    public string Name { get; }

    public ModelVocabulary Vocabulary { get; }

    public int BlockSize { get; }

    /// <summary>K, the completions of every ranking here.</summary>
    public int Completions { get; }

    public IReadOnlyList<RankedCompletions> TrainRankings => [.. _train.Select(e => e.Ranking)];

    public IReadOnlyList<RankedCompletions> ValidationRankings => [.. _validation.Select(e => e.Ranking)];

    /// <summary>
    /// Rankings split by prompt: a ranking whose instruction text is held out (<see cref="InstructionDataset.IsHeldOut"/>,
    /// one text in 8) validates, so no validation prompt is trained on. With no held-out prompt among them (or nothing
    /// else), every 8th ranking validates instead; a single ranking both trains and validates.
    /// </summary>
    /// <exception cref="InvalidDataException">No rankings, a ranking of another K, a bad order, or a row longer than the context; the message names the ranking.</exception>
    public static RankingDataset Create(string name, IReadOnlyList<RankedCompletions> rankings, ModelVocabulary vocabulary, int blockSize, int completions)
    {
        ArgumentNullException.ThrowIfNull(rankings);
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (rankings.Count == 0)
        {
            throw new InvalidDataException($"The rankings '{name}' hold none: a reward model needs at least one ranking.");
        }

        var encoded = rankings.Select(r => Encode(r, vocabulary, blockSize, completions)).ToArray();
        var held = encoded.Where(e => InstructionDataset.IsHeldOut(e.Ranking.Prompt)).ToArray();
        var train = encoded.Where(e => !InstructionDataset.IsHeldOut(e.Ranking.Prompt)).ToArray();
        if (held.Length == 0 || train.Length == 0)
        {
            const int OneIn = 8;
            held = encoded.Length < 2 ? encoded : [.. encoded.Where((_, i) => i % OneIn == OneIn - 1)];
            train = encoded.Length < 2 ? encoded : [.. encoded.Where((_, i) => i % OneIn != OneIn - 1)];
            if (held.Length == 0)
            {
                held = [encoded[^1]];
            }
        }

        return new RankingDataset(name, vocabulary, blockSize, completions, train, held);
    }

    /// <summary>
    /// Built-in rankings for demos and tests, without a policy to sample from: ranking n's prompt is instruction n of
    /// <paramref name="corpus"/>'s ranking stream, its completions the grammar's own response to it and the responses to
    /// K − 1 other instructions (another entity, place or sense of "bank"), shuffled, and its order is a simulated
    /// annotator's (the <see cref="PreferenceRule"/>, with <paramref name="noise"/>).
    /// </summary>
    public static RankingDataset Synthetic(SyntheticCorpus corpus, ModelVocabulary vocabulary, int blockSize, int completions, int count, double noise, long seed)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var annotator = new SimulatedAnnotator(PreferenceRule.Default, noise, seed);
        var rankings = new List<RankedCompletions>(count);
        for (var n = 0L; n < count; n++)
        {
            var random = new DeterministicRandom(DeterministicRandom.Mix(seed, n));
            var example = corpus.Instruction(SyntheticStream + n);
            var texts = new List<string> { example.Response };
            while (texts.Count < completions)
            {
                texts.Add(corpus.Instruction(SyntheticStream + random.NextLong(1 << 30)).Response);
            }

            for (var i = texts.Count - 1; i > 0; i--)
            {
                var j = random.NextInt(i + 1); // Fisher-Yates: where the grammar's own response sits tells nothing
                (texts[i], texts[j]) = (texts[j], texts[i]);
            }

            var id = $"synthetic-{n:D6}";
            rankings.Add(new RankedCompletions(id, example.Instruction, texts, annotator.Rank(id, example.Instruction, texts)));
        }

        return Create(SyntheticName, rankings, vocabulary, blockSize, completions);
    }

    /// <summary>The name of the built-in rankings.</summary>
    public const string SyntheticName = "synthetic";

    /// <summary>Where the built-in rankings' instructions start in the corpus's instruction stream (past the fine-tuning set's).</summary>
    private const long SyntheticStream = 1L << 40;

    public TokenBatch TrainBatch(long seed, long step, int microBatch, int replica, int microBatchesPerReplica, int batchSize, int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchesPerReplica, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        if (batchSize < Completions || batchSize % Completions != 0)
        {
            throw new ArgumentException($"A micro-batch of rankings of {Completions} completions holds a multiple of {Completions} rows; got {batchSize}.");
        }

        if ((uint)replica >= (uint)replicas || (uint)microBatch >= (uint)microBatchesPerReplica)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatch), $"Micro-batch {microBatch} of replica {replica} lies outside {microBatchesPerReplica} x {replicas}.");
        }

        var perMicroBatch = batchSize / Completions;
        var firstSlot = ((long)replica * microBatchesPerReplica + microBatch) * perMicroBatch;
        var rankings = Enumerable.Range(0, perMicroBatch)
            .Select(g => _train[new DeterministicRandom(DeterministicRandom.Mix(seed, step, firstSlot + g)).NextInt(_train.Length)])
            .ToList();
        return Rows(rankings) with { StepTargetCount = (long)replicas * microBatchesPerReplica * perMicroBatch };
    }

    public IEnumerable<TokenBatch> ValidationBatches(int batchSize, int? maxBatches = null)
    {
        if (batchSize < Completions || batchSize % Completions != 0)
        {
            throw new ArgumentException($"A batch of rankings of {Completions} completions holds a multiple of {Completions} rows; got {batchSize}.");
        }

        var perBatch = batchSize / Completions;
        var limit = maxBatches ?? int.MaxValue;
        for (var (first, emitted) = (0, 0); first < _validation.Length && emitted < limit; first += perBatch, emitted++)
        {
            yield return Rows([.. _validation.Skip(first).Take(perBatch)]);
        }
    }

    /// <summary>A completion's row as model IDs: EOD, the instruction, ".", the completion, EOD; its score is read at the last.</summary>
    public static long[] Row(string prompt, string completion, ModelVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return
        [
            ModelVocabulary.EndOfDocument, .. vocabulary.EncodeText(prompt).Select(t => (long)t), .. vocabulary.EncodeText(InstructionDataset.Separator).Select(t => (long)t),
            .. vocabulary.EncodeText(completion).Select(t => (long)t), ModelVocabulary.EndOfDocument,
        ];
    }

    private static Encoded Encode(RankedCompletions ranking, ModelVocabulary vocabulary, int blockSize, int completions)
    {
        if (ranking.Completions.Count != completions)
        {
            throw new InvalidDataException($"Ranking '{ranking.Id}' orders {ranking.Completions.Count} completions; this reward model trains on rankings of {completions}.");
        }

        try
        {
            RankingRules.CheckOrder(ranking.Order, completions);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Ranking '{ranking.Id}': {e.Message}", e);
        }

        var rows = ranking.Completions.Select(c => Row(ranking.Prompt, c, vocabulary)).ToArray();
        if (rows.Select((r, i) => (r, i)).FirstOrDefault(x => x.r.Length > blockSize) is { r: not null } tooLong)
        {
            throw new InvalidDataException(
                $"Ranking '{ranking.Id}', completion {tooLong.i}: EOD, the prompt, the separator, the completion and the closing EOD make {tooLong.r.Length} tokens, more than the context of {blockSize}.");
        }

        return new Encoded(ranking, rows);
    }

    private TokenBatch Rows(List<Encoded> rankings)
    {
        var (t, k) = (BlockSize, Completions);
        var rows = rankings.Count * k;
        var inputs = new long[rows * t];
        var targets = new long[rows * t];
        Array.Fill(inputs, ModelVocabulary.EndOfDocument); // padding after the row: the causal mask keeps it from the row
        Array.Fill(targets, GptStage.IgnoreIndex);
        for (var g = 0; g < rankings.Count; g++)
        {
            for (var c = 0; c < k; c++)
            {
                var row = (g * k) + c;
                var tokens = rankings[g].Rows[c];
                Array.Copy(tokens, 0, inputs, row * t, tokens.Length);
                targets[(row * t) + tokens.Length - 1] = rankings[g].Ranking.PlaceOf(c);
            }
        }

        return new TokenBatch(inputs, targets, rows, t);
    }

    private sealed record Encoded(RankedCompletions Ranking, long[][] Rows);
}
