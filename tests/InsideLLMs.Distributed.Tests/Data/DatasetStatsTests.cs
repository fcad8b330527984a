using System.Diagnostics;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class DatasetStatsTests(ITestOutputHelper output)
{
    [Fact]
    public void Synthetic_DefaultCorpus_HasAFloorBelowUniformAndAWindowPerTrainingDocument()
    {
        TokenEncodings.Get(TokenEncodings.Gpt2).Encode(" warm");
        var clock = Stopwatch.StartNew();
        var dataset = TokenDataset.Synthetic(new SyntheticCorpus(SyntheticCorpus.DefaultSeed), TokenEncodings.Get(TokenEncodings.Gpt2), blockSize: 64);
        clock.Stop();
        output.WriteLine(
            $"built in {clock.ElapsedMilliseconds} ms; train tokens {dataset.TrainTokens.Length}, validation tokens {dataset.ValidationTokens.Length}, " +
            $"validation targets {dataset.ValidationTargetCount}, windows {dataset.TrainWindowCount}, vocabulary {dataset.Vocabulary.Count}, " +
            $"floor {dataset.EntropyFloor:F4} nats/token, ln(vocab) {Math.Log(dataset.Vocabulary.Count):F4}");
        // The build time is printed, not asserted (a loaded machine is not a failure); the figures must hold.
        Assert.InRange(dataset.EntropyFloor!.Value, 0.1, Math.Log(dataset.Vocabulary.Count));
        Assert.Equal(dataset.Descriptor.TrainDocuments, dataset.TrainWindowCount, tolerance: 64);
    }
}
