using InsideLLMs.Distributed.Maths.Model;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Model;

public sealed class KvCacheTests
{
    private static readonly GptConfig Config = new() { VocabularySize = 29, BlockSize = 16, LayerCount = 3, HeadCount = 2, EmbeddingSize = 32, Bias = true };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_WithCache_InChunksAndSingleTokens_EqualsTheUncachedPass(bool probe)
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 4);
        model.eval();
        using var generator = new Generator(9);
        var tokens = randint(0, Config.VocabularySize, [2, 14], dtype: ScalarType.Int64, generator: generator);
        var expected = model.Forward(tokens); // (B, 14, V)

        using var cache = new KvCache();
        using var attention = probe ? new AttentionProbe() : null;
        // A prompt of 5, then a chunk of 3 (the masked path), then single tokens (the unmasked path).
        var pieces = new List<Tensor> { model.Forward(tokens[.., ..5], attention, cache), model.Forward(tokens[.., 5..8], attention, cache) };
        for (var t = 8; t < 14; t++)
        {
            pieces.Add(model.Forward(tokens[.., t..(t + 1)], attention, cache));
        }

        var actual = cat(pieces, dim: 1);
        Assert.Equal(14, cache.Length);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Forward_WithCache_BeyondTheContext_SaysWhy()
    {
        using var scope = NewDisposeScope();
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 4);
        using var cache = new KvCache();
        model.Forward(zeros(1, 16, dtype: ScalarType.Int64), cache: cache);

        var error = Assert.Throws<ArgumentException>(() => model.Forward(zeros(1, 1, dtype: ScalarType.Int64), cache: cache));
        Assert.Contains("beyond the context of 16", error.Message, StringComparison.Ordinal);
    }
}
