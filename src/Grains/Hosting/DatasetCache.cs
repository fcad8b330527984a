using System.Collections.Concurrent;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// One dataset per (corpus, encoding, context, seed) per silo: every stage and shard grain of a run on this silo
/// shares it (the default synthetic corpus is ~800k tokens, built in under a second).
/// </summary>
public sealed class DatasetCache
{
    private readonly ConcurrentDictionary<string, Lazy<TokenDataset>> _datasets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<InstructionDataset>> _instructions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<RankingDataset>> _rankings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (TrainingRunSpec Spec, RankingDataset Data)> _clusterRankings = new(StringComparer.Ordinal);

    private readonly CorpusLocator _corpora;

    /// <summary>A cache that reads only the built-in corpus (tests, benchmarks).</summary>
    public DatasetCache()
        : this(new CorpusLocator(new AdmissionOptions()))
    {
    }

    public DatasetCache(CorpusLocator corpora) => _corpora = corpora;

    /// <summary>The spec's dataset, its corpus found through the <see cref="CorpusLocator"/>.</summary>
    /// <exception cref="ArgumentException">The corpus is not allowed here, cannot be read, or is not UTF-8 text; the message says which.</exception>
    public TokenDataset Get(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var key = $"{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        return Cached(_datasets, key, () => TrainingRunSpecs.LoadDataset(spec with { Corpus = _corpora.Resolve(spec.Corpus) }));
    }

    /// <summary>
    /// An sft spec's instruction/response rows in the vocabulary of its corpus (the base model's): the built-in corpus's
    /// instructions, or a JSON Lines file found through the <see cref="CorpusLocator"/> like any corpus file.
    /// </summary>
    /// <exception cref="ArgumentException">The file is not allowed here or cannot be read, or a line is bad (the message names it).</exception>
    public InstructionDataset Instructions(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var source = TrainingRunSpecs.InstructionSource(spec);
        var key = $"{source}|{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        return Cached(_instructions, key, () =>
        {
            var vocabulary = Get(spec).Vocabulary;
            if (source == TrainingPreset.SyntheticCorpusName)
            {
                return InstructionDataset.Synthetic(new SyntheticCorpus(spec.Seed), vocabulary, spec.Context);
            }

            var path = _corpora.Resolve(source);
            var text = TextCorpus.FromFile(path).Text; // strict UTF-8, with the byte offset of a bad byte
            return InstructionDataset.FromJsonLines(source, text, vocabulary, spec.Context);
        });
    }

    /// <summary>
    /// A reward spec's built-in rankings in the vocabulary of its corpus (<see cref="RankingDataset.Synthetic"/>,
    /// <see cref="BuiltInRankings"/> of them from the spec's seed, ranked by the noise-free preference rule), or the
    /// cluster's rankings a run took (<see cref="LoadRankings"/> first).
    /// </summary>
    /// <param name="runId">The run, for cluster rankings.</param>
    public RankingDataset Rankings(TrainingRunSpec spec, string? runId = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var source = TrainingRunSpecs.RankingSource(spec);
        if (source == TrainingRunSpecs.ClusterRankings)
        {
            return runId is not null && _clusterRankings.TryGetValue(runId, out var taken) && taken.Spec == spec
                ? taken.Data
                : throw new InvalidOperationException($"The cluster rankings of run '{runId}' are not loaded on this silo.");
        }

        var key = $"{source}|{spec.RankingCompletions}|{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        return Cached(_rankings, key, () =>
            RankingDataset.Synthetic(new SyntheticCorpus(spec.Seed), Get(spec).Vocabulary, spec.Context, spec.RankingCompletions, BuiltInRankings, noise: 0, spec.Seed));
    }

    /// <summary>Keeps the rankings run <paramref name="runId"/> took from the cluster as its dataset on this silo.</summary>
    /// <exception cref="ArgumentException">A ranking does not fit the spec (another K, too long for the context); the message names it.</exception>
    public RankingDataset LoadRankings(string runId, TrainingRunSpec spec, IReadOnlyList<RankingExample> rankings)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(rankings);
        try
        {
            var data = RankingDataset.Create(
                $"cluster rankings of run '{runId}'", [.. rankings.Select(r => new RankedCompletions(r.ReceiptId, r.Prompt, r.Completions, r.Order))],
                Get(spec).Vocabulary, spec.Context, spec.RankingCompletions);
            _clusterRankings[runId] = (spec, data);
            return data;
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException(e.Message, e);
        }
    }

    /// <summary>One value per key, built once; a failure is not kept (a bad file can be fixed and tried again), and a file that cannot be read or is not valid becomes an <see cref="ArgumentException"/> with its reason.</summary>
    private static T Cached<T>(ConcurrentDictionary<string, Lazy<T>> cache, string key, Func<T> build)
    {
        var lazy = cache.GetOrAdd(key, _ => new Lazy<T>(build));
        try
        {
            return lazy.Value;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            cache.TryRemove(key, out _);
            throw new ArgumentException(e.Message, e);
        }
        catch
        {
            cache.TryRemove(key, out _);
            throw;
        }
    }

    /// <summary>How many built-in rankings a reward run reads.</summary>
    public const int BuiltInRankings = 2048;

    /// <summary>The rows a spec trains on: its corpus's windows (pre-training), its instruction rows (SFT) or its rankings (reward).</summary>
    /// <param name="runId">The run, for a reward run on the cluster's rankings (loaded with <see cref="LoadRankings"/>).</param>
    public ITrainingBatches Batches(TrainingRunSpec spec, string? runId = null) => TrainingRunSpecs.Objective(spec) switch
    {
        ObjectiveKind.Sft => Instructions(spec),
        ObjectiveKind.Reward => Rankings(spec, runId),
        _ => Get(spec),
    };
}
