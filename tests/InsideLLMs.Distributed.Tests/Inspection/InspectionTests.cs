using InsideLLMs.Distributed.Maths.Inspection;
using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Inspection;

public sealed class InspectionTests
{
    private static readonly GptConfig Config = new() { VocabularySize = 31, BlockSize = 12, LayerCount = 2, HeadCount = 4, EmbeddingSize = 32, Bias = true };

    [Fact]
    public void Qkv_OfAToken_SatisfiesEveryEquationAndMatchesWhatTheModelComputed()
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 8);
        model.eval();
        using var generator = new Generator(3);
        using var probe = new AttentionProbe();
        model.Forward(randint(0, Config.VocabularySize, [1, 10], dtype: ScalarType.Int64, generator: generator), probe);

        var b = AttentionInspector.Qkv(probe, layer: 1, head: 2, token: 6);

        Assert.Equal(8, b.HeadSize);
        for (var j = 0; j < 10; j++)
        {
            var dot = b.Query.Zip(b.Keys[j], (q, k) => (double)q * k).Sum();
            Assert.Equal(dot, b.RawScores[j], 1e-9);
            Assert.Equal(dot / Math.Sqrt(8), b.ScaledScores[j], 1e-9);
            Assert.Equal(j > 6, b.Masked[j]);
        }

        var recordedWeights = probe.Layers[1].Weights![0, 2, 6].data<float>().ToArray();
        for (var j = 0; j < 10; j++)
        {
            Assert.Equal(recordedWeights[j], b.Weights[j], 1e-5);
        }

        Assert.Equal(1.0, b.Weights.Sum(), 12);
        var recordedOutput = probe.Layers[1].HeadOutputs![0, 2, 6].data<float>().ToArray();
        for (var d = 0; d < 8; d++)
        {
            Assert.Equal(b.Weights.Select((w, j) => w * b.Values[j][d]).Sum(), b.Output[d], 1e-9);
            Assert.Equal(recordedOutput[d], b.Output[d], 1e-5);
        }
    }

    [Fact]
    public void Qkv_UnknownLayerOrHeadOrToken_IsRejectedByName()
    {
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 8);
        using var probe = new AttentionProbe();
        model.Forward(zeros(1, 4, dtype: ScalarType.Int64), probe);

        Assert.Contains("Layer 7", Assert.Throws<ArgumentException>(() => AttentionInspector.Qkv(probe, 7, 0, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("heads 0..3", Assert.Throws<ArgumentException>(() => AttentionInspector.Qkv(probe, 0, 4, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("tokens 0..3", Assert.Throws<ArgumentException>(() => AttentionInspector.Qkv(probe, 0, 0, 4)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LogitLens_LastLayer_IsTheModelsOwnPrediction()
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 5);
        model.eval();
        using var probe = new AttentionProbe();
        var logits = model.Forward(tensor(new long[] { 3, 1, 4, 1, 5, 9 }, [1, 6]), probe);

        var lens = LogitLens.Read(model, probe, position: 5, top: 5);

        Assert.Equal([0, 1], lens.Select(l => l.Layer));
        var expected = LogitLens.Top(logits[0, 5], 5);
        Assert.Equal(expected.Select(t => t.ModelId), lens[^1].Top.Select(t => t.ModelId));
        Assert.Equal(expected[0].Probability, lens[^1].Top[0].Probability, 1e-6);
    }

    [Fact]
    public void Embeddings_TwoSeparatedClusters_ProjectApartWithPurityOne()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var centre = randn(1, 16, generator: generator) * 3;
        var table = cat([centre + randn(10, 16, generator: generator) * 0.1, -centre + randn(10, 16, generator: generator) * 0.1], dim: 0); // (20, 16)
        var categories = Enumerable.Range(0, 20).ToDictionary(i => i, i => i < 10 ? "animals" : "places");

        var projection = EmbeddingInspector.Project(table);
        var purity = EmbeddingInspector.CategoryPurity(table, categories);
        var neighbours = EmbeddingInspector.NearestNeighbours(table, 3, 9);

        Assert.True(projection.ExplainedVariance > 0.9, $"explained {projection.ExplainedVariance}");
        Assert.All(projection.Points.Take(10), p => Assert.Equal(Math.Sign(projection.Points[0].X), Math.Sign(p.X)));
        Assert.All(projection.Points.Skip(10), p => Assert.NotEqual(Math.Sign(projection.Points[0].X), Math.Sign(p.X)));
        Assert.Equal(1.0, purity);
        Assert.All(neighbours, n => Assert.InRange(n.ModelId, 0, 9));
        Assert.DoesNotContain(neighbours, n => n.ModelId == 3);
    }

    [Fact]
    public void CategoryPurity_OfRandomVectors_IsNearChance()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2);
        var table = randn(200, 32, generator: generator);
        var categories = Enumerable.Range(0, 200).ToDictionary(i => i, i => (i % 4).ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.InRange(EmbeddingInspector.CategoryPurity(table, categories), 0.1, 0.45);
    }
}
