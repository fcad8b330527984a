using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>A named starting point: which corpus and encoding, the model's shape and how to train it.</summary>
/// <param name="Corpus"><see cref="SyntheticCorpusName"/> or the path of a UTF-8 text file.</param>
public sealed record TrainingPreset(string Name, string Description, string Corpus, string Encoding, GptConfig Model, TrainingOptions Training)
{
    /// <summary>The corpus name that selects the built-in synthetic grammar instead of a file.</summary>
    public const string SyntheticCorpusName = "synthetic";

    /// <summary>Builds the dataset and fills in the model's vocabulary size from it.</summary>
    public (TokenDataset Data, GptConfig Model) Load()
    {
        var data = LoadDataset(Corpus, Encoding, Model.BlockSize, Training.Seed);
        return (data, Model with { VocabularySize = data.Vocabulary.Count });
    }

    /// <summary>The synthetic grammar's dataset (seeded) or a text file's, tokenized with the named encoding.</summary>
    public static TokenDataset LoadDataset(string corpus, string encodingName, int blockSize, long seed)
    {
        var encoding = TokenEncodings.Get(encodingName);
        return corpus == SyntheticCorpusName
            ? TokenDataset.Synthetic(new SyntheticCorpus(seed), encoding, blockSize)
            : TokenDataset.Text(TextCorpus.FromFile(corpus), encoding, blockSize);
    }
}

/// <summary>The presets the client and the benchmarks share.</summary>
public static class TrainingPresets
{
    /// <summary>
    /// The built-in default: GPT-2 tokens of the synthetic grammar, a 4-layer 128-wide model (0.9M parameters with
    /// a ~400-token vocabulary), trained to near the grammar's entropy floor in minutes on 2 cores.
    /// </summary>
    public static TrainingPreset Synthetic { get; } = new(
        "synthetic",
        "the built-in synthetic grammar, GPT-2 tokens, 4 layers x 4 heads x 128 wide, context 64",
        TrainingPreset.SyntheticCorpusName,
        TokenEncodings.Gpt2,
        new GptConfig { VocabularySize = 3, BlockSize = 64, LayerCount = 4, HeadCount = 4, EmbeddingSize = 128 },
        new TrainingOptions
        {
            Steps = 1500, BatchSize = 16, LearningRate = 2e-3, MinLearningRate = 2e-4, WarmupSteps = 100, Beta2 = 0.99,
            EvalInterval = 250, Seed = 1337,
        });

    /// <summary>
    /// nanoGPT's CPU run of shakespeare_char (its README: 4 layers, 4 heads, width 128, context 64, batch 12,
    /// 2000 iterations, lr 1e-3, dropout 0; it reports validation loss 1.88).
    /// </summary>
    public static TrainingPreset ShakespeareChar(string path) => new(
        "shakespeare-char",
        "characters of a text file with nanoGPT's CPU configuration",
        path,
        TokenEncodings.Char,
        new GptConfig { VocabularySize = 3, BlockSize = 64, LayerCount = 4, HeadCount = 4, EmbeddingSize = 128 },
        new TrainingOptions
        {
            Steps = 2000, BatchSize = 12, LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = 100, Beta2 = 0.99,
            EvalInterval = 250, Seed = 1337,
        });
}
