using System.Diagnostics;
using InsideLLMs.Distributed.Grains.Data;
using InsideLLMs.Distributed.Grains.Tokenization;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class DatasetStatsTests(ITestOutputHelper output)
{
    [Fact]
    public void Synthetic_DefaultCorpus_BuildsWithinFiveSeconds()
    {
        TokenEncodings.Get(TokenEncodings.Gpt2).Encode(" warm");
        var clock = Stopwatch.StartNew();
        var dataset = TokenDataset.Synthetic(new SyntheticCorpus(SyntheticCorpus.DefaultSeed), TokenEncodings.Get(TokenEncodings.Gpt2), blockSize: 64);
        clock.Stop();
        output.WriteLine(
            $"built in {clock.ElapsedMilliseconds} ms; train tokens {dataset.TrainTokens.Length}, validation tokens {dataset.ValidationTokens.Length}, " +
            $"validation targets {dataset.ValidationTargetCount}, windows {dataset.TrainWindowCount}, vocabulary {dataset.Vocabulary.Count}, " +
            $"floor {dataset.EntropyFloor:F4} nats/token, ln(vocab) {Math.Log(dataset.Vocabulary.Count):F4}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"Building took {clock.Elapsed}.");
    }
}
