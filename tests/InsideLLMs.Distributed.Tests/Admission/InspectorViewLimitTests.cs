using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Tests.Data;

namespace InsideLLMs.Distributed.Tests.Admission;

/// <summary>The attention view sends every layer's and head's T x T weights; past 16 MB it is refused before any compute.</summary>
public sealed class InspectorViewLimitTests
{
    [Fact]
    public void Attention_OverSixteenMegabytes_IsRefusedSayingTheSize_AtTheLimitItIsSent()
    {
        var data = TestData.SmallSynthetic();
        var config = new GptConfig { VocabularySize = data.Vocabulary.Count, BlockSize = 1100, LayerCount = 2, HeadCount = 2, EmbeddingSize = 8 };
        using var inspector = new ModelInspector(new GptStage(config, StageSpec.Whole(config), seed: 1), data.Vocabulary, 0, SyntheticLexicon.Default);
        var the = data.Vocabulary.EncodeText(" the");
        Assert.Single(the);

        // 1001 tokens: 1001² x 2 layers x 2 heads x 4 bytes = 16,032,016 bytes.
        var error = Assert.Throws<ArgumentException>(() => inspector.Attention(string.Concat(Enumerable.Repeat(" the", 1001))));
        Assert.Equal(
            "The attention view of a 1001-token prompt is every one of 2 layers x 2 heads' 1001 x 1001 weights, 16,032,016 bytes, " +
            "more than the 16,000,000 a view may send; shorten the prompt, or ask for one layer and head at a time (the Q/K/V view).", error.Message);

        var view = inspector.Attention(string.Concat(Enumerable.Repeat(" the", 1000))); // exactly 16,000,000 bytes
        Assert.Equal(4, view.Heads.Count);
        Assert.Equal(1000, view.Heads[0].Weights.Length);
    }
}
