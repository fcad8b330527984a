using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Model;

public sealed class GptStageTests
{
    private static readonly GptConfig Small = new()
    {
        VocabularySize = 37, BlockSize = 16, LayerCount = 4, HeadCount = 2, EmbeddingSize = 32, Bias = true,
    };

    private static Tensor Tokens(long seed, int batch, int time)
    {
        using var generator = new Generator((ulong)seed);
        return randint(0, Small.VocabularySize, [batch, time], dtype: ScalarType.Int64, generator: generator);
    }

    [Fact]
    public void Forward_ChangingAFutureToken_LeavesEarlierLogitsUnchanged()
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Small, StageSpec.Whole(Small), seed: 1);
        model.eval();
        var tokens = Tokens(2, batch: 2, time: 12);
        var changed = tokens.clone();
        changed[.., 7] = (changed[.., 7] + 1) % Small.VocabularySize;

        var before = model.Forward(tokens);
        var after = model.Forward(changed);

        Assert.True(before[.., ..7].allclose(after[.., ..7], rtol: 0, atol: 0), "positions before the change must not move");
        Assert.False(before[.., 7..].allclose(after[.., 7..], rtol: 0, atol: 1e-4), "positions from the change on must move");
    }

    [Fact]
    public void Forward_WithProbe_RecordsAttentionAndMatchesFusedPath()
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Small, StageSpec.Whole(Small), seed: 3);
        model.eval();
        var tokens = Tokens(4, batch: 1, time: 9);
        using var probe = new AttentionProbe();

        var fused = model.Forward(tokens);
        var explicitPath = model.Forward(tokens, probe);

        Assert.True(fused.allclose(explicitPath, rtol: 1e-5, atol: 1e-5));
        Assert.Equal(Small.LayerCount, probe.Layers.Count);
        var weights = probe.Layers[2].Weights!; // (B, nh, T, T)
        Assert.Equal([1L, 2, 9, 9], weights.shape);
        Assert.True(weights.sum(-1).allclose(ones(1, 2, 9), atol: 1e-6), "each row of attention weights sums to 1");
        Assert.Equal(0.0, weights.triu(1).abs().sum().item<float>(), 1e-9);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Stages_ComposedInTurn_EqualTheWholeModelInOutputsAndGradients(int stageCount)
    {
        using var scope = NewDisposeScope();
        using var whole = new GptStage(Small, StageSpec.Whole(Small), seed: 5);
        var stages = StageSpec.Partition(Small, stageCount).Select(s => new GptStage(Small, s, seed: 5)).ToArray();
        var tokens = Tokens(6, batch: 3, time: 16);
        var targets = Tokens(7, batch: 3, time: 16);

        var wholeLogits = whole.Forward(tokens);
        GptStage.Loss(wholeLogits, targets).backward();

        // Forward through the stages, cutting the graph at each boundary as the pipeline does with messages.
        var boundaries = new List<(Tensor Sent, Tensor Received)>();
        Tensor x = tokens;
        for (var i = 0; i < stages.Length; i++)
        {
            var output = stages[i].Forward(x);
            if (i < stages.Length - 1)
            {
                var received = output.detach().requires_grad_(true);
                boundaries.Add((output, received));
                x = received;
            }
            else
            {
                x = output;
            }
        }

        Assert.True(wholeLogits.allclose(x, rtol: 0, atol: 1e-6), "logits");
        GptStage.Loss(x, targets).backward();
        for (var i = boundaries.Count - 1; i >= 0; i--)
        {
            boundaries[i].Sent.backward([boundaries[i].Received.grad!]);
        }

        var stageGradients = stages
            .SelectMany(s => s.named_parameters())
            .ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, parameter) in whole.named_parameters())
        {
            var expected = parameter.grad!;
            var actual = name == "wte.weight"
                ? stageGradients["wte.weight"] + stageGradients["lm_head.weight"] // the tied matrix, reduced
                : stageGradients[name];
            Assert.True(expected.allclose(actual, rtol: 0, atol: 1e-6), $"gradient of {name}");
        }

        Assert.Equal(
            whole.parameters().Sum(p => p.numel()) + Small.VocabularySize * Small.EmbeddingSize,
            stages.Sum(s => s.parameters().Sum(p => p.numel())));
        foreach (var stage in stages)
        {
            stage.Dispose();
        }
    }

    [Fact]
    public void ParameterCount_OfConfig_MatchesTheModule()
    {
        using var model = new GptStage(Small, StageSpec.Whole(Small), seed: 1);
        Assert.Equal(Small.ParameterCount, model.parameters().Sum(p => p.numel()));
        var noBias = Small with { Bias = false };
        using var lean = new GptStage(noBias, StageSpec.Whole(noBias), seed: 1);
        Assert.Equal(noBias.ParameterCount, lean.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Config_WhoseHeadsDoNotDivideTheWidth_IsRejectedWithTheNumbers()
    {
        var error = Assert.Throws<ArgumentException>(() => (Small with { HeadCount = 3 }).Validate());
        Assert.Contains("32", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 heads", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Partition_MoreStagesThanLayers_IsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => StageSpec.Partition(Small, 5));
        Assert.Contains("4 layers into 5", error.Message, StringComparison.Ordinal);
        Assert.Equal([2, 1, 1], StageSpec.Partition(Small with { LayerCount = 4 }, 3).Select(s => s.BlockCount));
    }
}
