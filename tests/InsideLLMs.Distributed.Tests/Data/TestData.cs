using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Data;

/// <summary>Files and datasets the data tests share; the default synthetic dataset is built once per run.</summary>
internal static class TestData
{
    private static readonly Lazy<TokenDataset> DefaultSynthetic = new(() =>
        TokenDataset.Synthetic(new SyntheticCorpus(seed: 1337), TokenEncodings.Get(TokenEncodings.Gpt2), blockSize: 64));

    /// <summary>The default corpus (50,000 + 2,000 documents) with gpt2 and a 64-token context.</summary>
    public static TokenDataset Synthetic => DefaultSynthetic.Value;

    /// <summary>tinyshakespeare.txt in the data folder of the shared directory beside the repository root (every developer and CI have it).</summary>
    public static string TinyShakespearePath
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "InsideLLMs.Distributed.sln")))
            {
                directory = directory.Parent;
            }

            if (directory is null)
            {
                throw new InvalidOperationException($"No InsideLLMs.Distributed.sln above {AppContext.BaseDirectory}.");
            }

            return Path.GetFullPath(Path.Combine(directory.FullName, "..", "shared", "data", "tinyshakespeare.txt"));
        }
    }

    public static TokenDataset SmallSynthetic(int blockSize = 64, int train = 200, int validation = 50, long seed = 7) =>
        TokenDataset.Synthetic(new SyntheticCorpus(seed), TokenEncodings.Get(TokenEncodings.Gpt2), blockSize, train, validation);
}
