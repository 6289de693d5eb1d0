//! The `#[chaos_test]` attribute, re-exported by roulette-test as
//! `roulette_test::chaos_test`; see its documentation there.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Token, Type};

/// Turns `async fn name(ctx: ChaosContext)` into an ordinary `#[test] fn
/// name()` that runs the body on a runtime of its own.
///
/// Arguments, all optional: `spec = "path.yaml"` (relative to the
/// package's `CARGO_MANIFEST_DIR`), `timeout = "30s"`, `seed = 42`,
/// `flavor = "current_thread" | "multi_thread"`.
#[proc_macro_attribute]
pub fn chaos_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let original: TokenStream2 = item.clone().into();
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // The item stays, so editors still resolve its names.
            let error = error.to_compile_error();
            quote!(#error #[allow(dead_code)] #original).into()
        }
    }
}

#[derive(Default)]
struct Options {
    spec: Option<String>,
    timeout_ms: Option<u64>,
    seed: Option<u64>,
    multi_thread: bool,
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut options = Options::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    for meta in metas {
        if let Err(error) = parse_option(&meta, &mut options) {
            push(error);
        }
    }
    let function: ItemFn = match syn::parse2(item) {
        Ok(function) => function,
        Err(error) => {
            push(syn::Error::new(
                error.span(),
                "#[chaos_test] goes on an `async fn NAME(ctx: roulette_test::ChaosContext)`",
            ));
            return Err(errors.expect("an error was pushed"));
        }
    };
    if let Err(error) = check_signature(&function) {
        push(error);
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    Ok(generate(function, &options))
}

fn parse_option(meta: &Meta, options: &mut Options) -> syn::Result<()> {
    let Meta::NameValue(pair) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            "expected `NAME = VALUE`; the arguments are `spec`, `timeout`, `seed` and `flavor`",
        ));
    };
    let name = pair
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    match name.as_str() {
        "spec" => {
            let (path, span) = string_value(&pair.value, "spec", "\"chaos/kill.yaml\"")?;
            if let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR")
                && !std::path::Path::new(&dir).join(&path).is_file()
            {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "spec file `{path}` does not exist in {dir}; the path is relative to the package's Cargo.toml"
                    ),
                ));
            }
            options.spec = Some(path);
        }
        "timeout" => {
            let (text, span) = string_value(&pair.value, "timeout", "\"30s\"")?;
            let ms = parse_duration_ms(&text).ok_or_else(|| {
                syn::Error::new(
                    span,
                    format!("invalid timeout `{text}`; write a duration above zero such as \"500ms\", \"30s\" or \"2m\""),
                )
            })?;
            options.timeout_ms = Some(ms);
        }
        "seed" => match &pair.value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => options.seed = Some(int.base10_parse()?),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "`seed` takes a whole number, such as `seed = 42`",
                ));
            }
        },
        "flavor" => {
            let (text, span) = string_value(&pair.value, "flavor", "\"multi_thread\"")?;
            options.multi_thread = match text.as_str() {
                "current_thread" => false,
                "multi_thread" => true,
                other => {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "unknown flavor `{other}`; write \"current_thread\" or \"multi_thread\""
                        ),
                    ));
                }
            };
        }
        _ => {
            return Err(syn::Error::new(
                pair.path.span(),
                format!(
                    "unknown argument `{}`; the arguments are `spec`, `timeout`, `seed` and `flavor`",
                    pair.path.to_token_stream().to_string().replace(' ', "")
                ),
            ));
        }
    }
    Ok(())
}

fn string_value(value: &Expr, name: &str, example: &str) -> syn::Result<(String, Span)> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok((text.value(), text.span())),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes a string, such as `{name} = {example}`"),
        )),
    }
}

/// Parses `500ms`, `30s`, `2m` or `1m30s` into milliseconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(factor)?)?;
        rest = &rest[unit_len..];
    }
    (total > 0).then_some(total)
}

fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        return Err(syn::Error::new(
            signature.fn_token.span(),
            "#[chaos_test] needs an `async fn`; write `async fn NAME(ctx: roulette_test::ChaosContext)`",
        ));
    }
    let params: Vec<&FnArg> = signature.inputs.iter().collect();
    let [FnArg::Typed(param)] = params.as_slice() else {
        return Err(syn::Error::new(
            signature
                .inputs
                .span()
                .join(signature.ident.span())
                .unwrap_or(signature.ident.span()),
            "#[chaos_test] functions take one parameter, the context: `ctx: roulette_test::ChaosContext`",
        ));
    };
    let is_context =
        match param.ty.as_ref() {
            Type::Path(path) => path.path.segments.last().is_some_and(|segment| {
                segment.ident == "ChaosContext" && segment.arguments.is_empty()
            }),
            _ => false,
        };
    if !is_context {
        return Err(syn::Error::new(
            param.ty.span(),
            "the parameter of a #[chaos_test] function must be `roulette_test::ChaosContext`",
        ));
    }
    if !signature.generics.params.is_empty() {
        return Err(syn::Error::new(
            signature.generics.span(),
            "#[chaos_test] functions cannot be generic",
        ));
    }
    Ok(())
}

fn generate(function: ItemFn, options: &Options) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let name_text = name.to_string();
    let inner_inputs = &sig.inputs;
    let output = &sig.output;
    let spec = match &options.spec {
        Some(path) => quote!(::core::option::Option::Some(
            concat!(env!("CARGO_MANIFEST_DIR"), "/", #path)
        )),
        None => quote!(::core::option::Option::None),
    };
    let timeout = match options.timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(::std::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let seed = match options.seed {
        Some(seed) => quote!(::core::option::Option::Some(#seed)),
        None => quote!(::core::option::Option::None),
    };
    let multi_thread = options.multi_thread;
    let call = quote_spanned! {name.span()=>
        ::roulette_test::chaos::run_chaos_test(
            ::roulette_test::chaos::ChaosTestOptions {
                name: concat!(module_path!(), "::", #name_text),
                spec: #spec,
                timeout: #timeout,
                seed: #seed,
                multi_thread: #multi_thread,
            },
            #name,
        )
    };
    quote! {
        #[test]
        #(#attrs)*
        #vis fn #name() {
            async fn #name(#inner_inputs) #output #block
            #call
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_milliseconds() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
    }

    #[test]
    fn invalid_durations_rejected() {
        for text in [
            "",
            "30",
            "s",
            "0s",
            "1.5s",
            "30sec",
            "-1s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration_ms(text), None, "{text}");
        }
    }

    #[test]
    fn expansion_keeps_name_and_attributes() {
        let item = quote! {
            #[ignore]
            async fn kills_twice(ctx: roulette_test::ChaosContext) { let _ = ctx; }
        };
        let expanded = expand(quote!(seed = 3, flavor = "multi_thread"), item)
            .expect("valid arguments")
            .to_string();
        assert!(
            expanded.starts_with("# [test] # [ignore] fn kills_twice ()"),
            "{expanded}"
        );
        assert!(
            expanded.contains("seed : :: core :: option :: Option :: Some (3u64)"),
            "{expanded}"
        );
        assert!(expanded.contains("multi_thread : true"), "{expanded}");
    }
}
