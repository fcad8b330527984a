using InsideLLMs.Distributed.Maths.Sampling;

namespace InsideLLMs.Distributed.Tests.Sampling;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, -1.0f, 3.0f];

    [Fact]
    public void Distribution_Greedy_PutsAllMassOnTheLargestLogit()
    {
        var p = Sampler.Distribution(Logits, new SamplingOptions(Greedy: true));
        Assert.Equal([0.0, 0, 0, 0, 1], p);
    }

    [Fact]
    public void Distribution_TopK_KeepsTheKMostLikelyRenormalised()
    {
        var p = Sampler.Distribution(Logits, new SamplingOptions(TopK: 2));
        var e4 = Math.Exp(3.0);
        var e0 = Math.Exp(2.0);
        Assert.Equal(e4 / (e4 + e0), p[4], 12);
        Assert.Equal(e0 / (e4 + e0), p[0], 12);
        Assert.Equal(0.0, p[1] + p[2] + p[3]);
    }

    [Fact]
    public void Distribution_TopP_KeepsTheSmallestSetReachingP()
    {
        var full = Sampler.Softmax(Logits);
        var p = Sampler.Distribution(Logits, new SamplingOptions(TopP: full[4] + 0.01));
        Assert.Equal(2, p.Count(x => x > 0)); // the top token alone falls 0.01 short
        Assert.Equal(1.0, p.Sum(), 12);
    }

    [Fact]
    public void Distribution_LowTemperature_Sharpens()
    {
        var cold = Sampler.Distribution(Logits, new SamplingOptions(Temperature: 0.5));
        var warm = Sampler.Distribution(Logits, new SamplingOptions(Temperature: 2.0));
        Assert.True(cold[4] > Sampler.Softmax(Logits)[4]);
        Assert.True(warm[4] < Sampler.Softmax(Logits)[4]);
    }

    [Theory]
    [InlineData(0.0, null, null, "Temperature")]
    [InlineData(double.NaN, null, null, "Temperature")]
    [InlineData(1.0, 0, null, "top-k")]
    [InlineData(1.0, 6, null, "top-k")]
    [InlineData(1.0, null, 0.0, "top-p")]
    [InlineData(1.0, null, 1.5, "top-p")]
    public void Distribution_BadOptions_AreRejectedByName(double temperature, int? topK, double? topP, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => Sampler.Distribution(Logits, new SamplingOptions(temperature, topK, topP)));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pick_WalksTheCumulativeDistribution()
    {
        double[] p = [0.0, 0.25, 0.0, 0.75];
        Assert.Equal(1, Sampler.Pick(p, 0.0));
        Assert.Equal(1, Sampler.Pick(p, 0.2499));
        Assert.Equal(3, Sampler.Pick(p, 0.25));
        Assert.Equal(3, Sampler.Pick(p, 0.999999));
    }
}
