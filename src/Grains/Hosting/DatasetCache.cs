using System.Collections.Concurrent;
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
        var lazy = _datasets.GetOrAdd(key, _ => new Lazy<TokenDataset>(
            () => TrainingRunSpecs.LoadDataset(spec with { Corpus = _corpora.Resolve(spec.Corpus) })));
        try
        {
            return lazy.Value;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            _datasets.TryRemove(key, out _); // a bad corpus must not stay cached as a failure
            throw new ArgumentException(e.Message, e);
        }
        catch
        {
            _datasets.TryRemove(key, out _);
            throw;
        }
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
        var lazy = _instructions.GetOrAdd(key, _ => new Lazy<InstructionDataset>(() =>
        {
            var vocabulary = Get(spec).Vocabulary;
            if (source == TrainingPreset.SyntheticCorpusName)
            {
                return InstructionDataset.Synthetic(new SyntheticCorpus(spec.Seed), vocabulary, spec.Context);
            }

            var path = _corpora.Resolve(source);
            var text = TextCorpus.FromFile(path).Text; // strict UTF-8, with the byte offset of a bad byte
            return InstructionDataset.FromJsonLines(source, text, vocabulary, spec.Context);
        }));
        try
        {
            return lazy.Value;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            _instructions.TryRemove(key, out _);
            throw new ArgumentException(e.Message, e);
        }
        catch
        {
            _instructions.TryRemove(key, out _);
            throw;
        }
    }

    /// <summary>
    /// A reward spec's rankings in the vocabulary of its corpus: the built-in ones (<see cref="RankingDataset.Synthetic"/>,
    /// <see cref="BuiltInRankings"/> of them from the spec's seed, ranked by the noise-free preference rule).
    /// </summary>
    public RankingDataset Rankings(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var source = TrainingRunSpecs.RankingSource(spec);
        var key = $"{source}|{spec.RankingCompletions}|{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        var lazy = _rankings.GetOrAdd(key, _ => new Lazy<RankingDataset>(() =>
            RankingDataset.Synthetic(new SyntheticCorpus(spec.Seed), Get(spec).Vocabulary, spec.Context, spec.RankingCompletions, BuiltInRankings, noise: 0, spec.Seed)));
        try
        {
            return lazy.Value;
        }
        catch (Exception e) when (e is InvalidDataException)
        {
            _rankings.TryRemove(key, out _);
            throw new ArgumentException(e.Message, e);
        }
        catch
        {
            _rankings.TryRemove(key, out _);
            throw;
        }
    }

    /// <summary>How many built-in rankings a reward run reads.</summary>
    public const int BuiltInRankings = 2048;

    /// <summary>The rows a spec trains on: its corpus's windows (pre-training), its instruction rows (SFT) or its rankings (reward).</summary>
    public ITrainingBatches Batches(TrainingRunSpec spec) => TrainingRunSpecs.Objective(spec) switch
    {
        ObjectiveKind.Sft => Instructions(spec),
        ObjectiveKind.Reward => Rankings(spec),
        _ => Get(spec),
    };
}
