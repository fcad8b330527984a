using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Sampling;

namespace InsideLLMs.Distributed.Tests.Sampling;

public sealed class TextGeneratorTests
{
    private static readonly GptConfig Config = new() { VocabularySize = 20, BlockSize = 8, LayerCount = 1, HeadCount = 2, EmbeddingSize = 16 };

    [Fact]
    public void Generate_SameSeed_GivesTheSameTokensAndADifferentSeedOtherTokens()
    {
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 1);
        var options = new SamplingOptions(Temperature: 2.0, Seed: 5);

        var first = TextGenerator.Generate(model, [1, 2, 3], options, 20).ToArray();
        var again = TextGenerator.Generate(model, [1, 2, 3], options, 20).ToArray();
        var other = TextGenerator.Generate(model, [1, 2, 3], options with { Seed = 6 }, 20).ToArray();

        Assert.Equal(first, again);
        Assert.NotEqual(first.Select(t => t.Id), other.Select(t => t.Id));
        Assert.All(first, t => Assert.InRange(t.Probability, 1e-9, 1.0));
    }

    [Fact]
    public void Generate_Greedy_TakesTheArgmaxWithProbabilityOne_BeyondTheContextLength()
    {
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 2);
        var tokens = TextGenerator.Generate(model, [4], new SamplingOptions(Greedy: true), maxTokens: 12).ToArray();

        Assert.Equal(12, tokens.Length); // runs past the 8-token context by dropping the oldest tokens
        Assert.All(tokens, t => Assert.Equal(1.0, t.Probability));
    }

    [Fact]
    public void Generate_EmptyPromptOrBadTopK_IsRejected()
    {
        using var model = new GptStage(Config, StageSpec.Whole(Config), seed: 3);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => TextGenerator.Generate(model, [], new SamplingOptions(), 1)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TextGenerator.Generate(model, [1], new SamplingOptions(TopK: 21), 1));
    }
}
