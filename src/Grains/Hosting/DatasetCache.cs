using System.Collections.Concurrent;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Data;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// One dataset per (corpus, encoding, context, seed) per silo: every stage and shard grain of a run on this silo
/// shares it (the default synthetic corpus is ~800k tokens, built in under a second).
/// </summary>
public sealed class DatasetCache
{
    private readonly ConcurrentDictionary<string, Lazy<TokenDataset>> _datasets = new(StringComparer.Ordinal);

    public TokenDataset Get(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var key = $"{spec.Corpus}|{spec.Encoding}|{spec.Context}|{spec.Seed}";
        var lazy = _datasets.GetOrAdd(key, _ => new Lazy<TokenDataset>(
            () => TrainingRunSpecs.LoadDataset(spec)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _datasets.TryRemove(key, out _); // a bad corpus must not stay cached as a failure
            throw;
        }
    }
}
