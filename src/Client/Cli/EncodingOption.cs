using System.CommandLine;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>The <c>--encoding</c> option shared by verbs that turn text into tokens (tokenize, and later generate, inspect).</summary>
internal static class EncodingOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--encoding", "-e")
        {
            Description = $"Token encoding: {string.Join(", ", TokenEncodings.Names)}.",
            DefaultValueFactory = _ => TokenEncodings.Gpt2,
            HelpName = "name",
        };
        option.CompletionSources.Add(TokenEncodings.Names.ToArray());
        return option;
    }

    /// <exception cref="CliUsageException">The name is not a known encoding; the message lists the known ones.</exception>
    public static ITokenEncoding Resolve(string? name)
    {
        try
        {
            return TokenEncodings.Get(name ?? TokenEncodings.Gpt2);
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException($"Unknown encoding '{name}'. Known encodings: {string.Join(", ", TokenEncodings.Names)}.", e);
        }
    }
}
